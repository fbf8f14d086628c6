"""Settings as a user writes them: key forms, one clear line and exit 2 for a bad value,
and a keys file re-read on SIGHUP by a real server process."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import httpx
import pytest

from audio.settings import load_settings
from bench.stt import server_process

from ..helpers import run_cli, wait_until


@pytest.mark.parametrize(
    ("raw", "keys"),
    [("my-key", ["my-key"]), (" a, b ,c", ["a", "b", "c"]), ('["x", "y"]', ["x", "y"])],
)
def test_api_keys_as_one_key_a_list_or_json(
    monkeypatch: pytest.MonkeyPatch, raw: str, keys: list[str]
) -> None:
    monkeypatch.setenv("SPEECH_API_KEYS", raw)
    assert load_settings().api_keys == keys


BAD = [
    ("SPEECH_API_KEYS", '["unclosed",', "JSON list"),
    ("SPEECH_API_KEYS", "two words", "no spaces"),
    ("SPEECH_LIMITS__MAX_UPLOAD_BYTES", "-1", "greater than 0"),
    ("SPEECH_WORKERS__QUEUE_SIZE", "-3", "greater than or equal to 0"),
    ("SPEECH_STT__ALGORITHM", "fastest", "'chunked' or 'sequential'"),
    ("SPEECH_STT__BEAM_SIZE", "0", "greater than or equal to 1"),
    ("SPEECH_PORT", "http", "valid integer"),
    ("SPEECH_API_KEYS_FILE", "/nonexistent/keys.txt", "cannot read"),
]


@pytest.mark.parametrize(("variable", "value", "says"), BAD, ids=[f"{v}={x}" for v, x, _ in BAD])
def test_a_bad_setting_is_one_line_and_exit_2(variable: str, value: str, says: str) -> None:
    done = run_cli("serve", timeout=60, **{variable: value})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"speech-pipeline: invalid setting: {variable}: ")
    assert says in lines[0]


def test_an_unwritable_cache_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = run_cli("serve", timeout=60, SPEECH_STT__CACHE_DIR=str(blocker / "cache"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"speech-pipeline: invalid setting: SPEECH_STT__CACHE_DIR: {blocker / 'cache'} is not "
        "a writable directory (Not a directory)"
    ]


def _hashes(*keys: str) -> str:
    return "# accepted keys\n" + "".join(
        hashlib.sha256(k.encode()).hexdigest() + "\n" for k in keys
    )


def test_keys_file_is_reloaded_on_sighup(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(_hashes("first-key"))
    env = {"SPEECH_API_KEYS_FILE": str(keys), "SPEECH_WARMUP": "false"}
    with server_process(env) as (url, process):

        def status(key: str) -> int:
            headers = {"authorization": f"Bearer {key}"}
            return httpx.get(f"{url}/v1/models", headers=headers, timeout=30).status_code

        assert (status("first-key"), status("second-key")) == (200, 401)
        keys.write_text(_hashes("second-key"))
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: status("first-key") == 401)
        assert status("second-key") == 200
        keys.write_text("not a digest\n")  # a broken file keeps the keys already loaded
        process.send_signal(signal.SIGHUP)
        assert status("second-key") == 200
        assert process.poll() is None


def test_the_project_keyring_format(tmp_path: Path) -> None:
    from audio.ops.keys import ANONYMOUS_PROJECT, ApiKeys, KeyFileError, own_project, read_key_file

    digest = {k: hashlib.sha256(k.encode()).hexdigest() for k in ("a1", "a2", "solo", "p")}
    keyring = tmp_path / "keys.txt"
    keyring.write_text(
        f"# PROJECT SHA256\nteam-a {digest['a1']}\n\nteam-a {digest['a2'].upper()}  # rotated\n"
        f"{digest['solo']}\n"
    )
    keys = ApiKeys(["p"], keyring)
    assert keys.project_of("a1") == keys.project_of("a2") == "team-a"
    assert keys.project_of("solo") == own_project(bytes.fromhex(digest["solo"]))
    assert keys.project_of("p") == own_project(bytes.fromhex(digest["p"]))
    assert keys.project_of("solo") != keys.project_of("p")
    assert digest["p"] not in keys.project_of("p")  # type: ignore[operator]
    assert keys.project_of("wrong") is None and keys.project_of(None) is None
    assert ApiKeys([]).project_of(None) == ANONYMOUS_PROJECT
    for bad in (f"team a {digest['a1']}", "team-a not-a-digest", f"-x {digest['a1']}",
                f"{'n' * 65} {digest['a1']}"):  # fmt: skip
        keyring.write_text(bad + "\n")
        with pytest.raises(KeyFileError):
            read_key_file(keyring)
