"""Keys are tenants: with the real openai SDK against a `speech-pipeline serve` process,
one project's files, batches and transcripts are invisible to another's keys, lists
paginate as OpenAI's do, and no key reaches the logs or `/metrics`.

The keys: `team-a` holds two keys (the keys file), `key-b` and `key-c` are plain keys
(each a project of its own), and a bare digest in the file is a project of its own too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from bench.stt import server_process

from ..helpers import SAMPLES

pytestmark = pytest.mark.slow

A1, A2, B, C, SOLO = "key-a1-Zq81", "key-a2-Wd44", "key-b-Hh20", "key-c-Pp73", "key-solo-Yk55"
KEYS = (A1, A2, B, C, SOLO)
ENDPOINT = "/v1/audio/transcriptions"
HELLO = SAMPLES / "hello_en.wav"
MADE_UP_FILE, MADE_UP_BATCH = "file-" + "0" * 24, "batch_" + "0" * 24


def sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, hub_cache: Path
) -> Iterator[tuple[str, Path]]:
    """The server and the file its whole output (stdout and stderr) goes to."""
    root = tmp_path_factory.mktemp("tenancy")
    keyring = root / "keys.txt"
    keyring.write_text(
        "# project keyring: PROJECT SHA256, or SHA256 alone for a project of its own\n"
        f"team-a {sha(A1)}\nteam-a {sha(A2)}  # the rotated key\n{sha(SOLO)}\n"
    )
    output = root / "server.log"
    env = {
        "SPEECH_API_KEYS": f"{B},{C}", "SPEECH_API_KEYS_FILE": str(keyring),
        "SPEECH_BATCH__DATA_DIR": str(root / "batch"), "SPEECH_WARMUP": "false",
        "SPEECH_LOG_LEVEL": "debug", "SPEECH_REALTIME__MAX_SESSIONS_PER_PROJECT": "1",
        "SPEECH_STT__CACHE_DIR": str(cache_dir), "SPEECH_STT__HUB_CACHE_DIR": str(hub_cache),
        "SPEECH_STT__FALLBACK_MODEL": "whisper-base",
    }  # fmt: skip
    with server_process(env, output=output) as (url, _process):
        yield url, output


@pytest.fixture(scope="module")
def url(served: tuple[str, Path]) -> str:
    return served[0]


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


def line(custom_id: str, audio: str) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
                       "body": {"model": "whisper-1", "language": "en", "url": audio}})  # fmt: skip


def finished(client: openai.OpenAI, batch_id: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while (batch := client.batches.retrieve(batch_id)).status not in (
        "completed", "failed", "expired", "cancelled",
    ):  # fmt: skip
        assert time.monotonic() < deadline, batch
        time.sleep(0.3)
    return batch


def refusal(call: Callable[[str], Any], object_id: str) -> tuple[int, Any]:
    """The error status and body of `call(object_id)`, with the id written as `ID`."""
    with pytest.raises(openai.APIStatusError) as caught:
        call(object_id)
    body = json.loads(caught.value.response.text.replace(object_id, "ID"))
    return caught.value.status_code, body


def records(client: openai.OpenAI, file_id: str) -> dict[str, dict[str, Any]]:
    content = client.files.content(file_id).content.decode()
    return {(r := json.loads(text))["custom_id"]: r for text in content.splitlines() if text}


@pytest.fixture(scope="module")
def team_a(url: str) -> dict[str, str]:
    """Team A's audio upload, batch input, finished batch and its output file."""
    client = sdk(url, A1)
    audio = client.files.create(file=("hello.wav", HELLO.read_bytes()), purpose="user_data")
    source = client.files.create(file=("in.jsonl", line("a-1", audio.id).encode()), purpose="batch")
    batch = client.batches.create(input_file_id=source.id, endpoint=ENDPOINT,
                                  completion_window="24h")  # fmt: skip
    done = finished(client, batch.id)
    assert done.status == "completed" and done.output_file_id, done
    text = records(client, done.output_file_id)["a-1"]["response"]["body"]["text"]
    assert "hello" in text.lower()
    return {"audio": audio.id, "input": source.id, "batch": batch.id,
            "output": done.output_file_id}  # fmt: skip


def test_another_projects_ids_answer_as_unknown_ids(url: str, team_a: dict[str, str]) -> None:
    own, other = sdk(url, A1), sdk(url, B)
    unknown_file = refusal(own.files.retrieve, MADE_UP_FILE)
    unknown_batch = refusal(own.batches.retrieve, MADE_UP_BATCH)
    assert unknown_file[0] == 404 and unknown_file[1]["error"]["code"] == "not_found"
    for file_id in (team_a["audio"], team_a["input"], team_a["output"]):
        assert refusal(other.files.retrieve, file_id) == unknown_file
        assert refusal(other.files.content, file_id) == unknown_file
        assert refusal(other.files.delete, file_id) == unknown_file
    assert refusal(other.batches.retrieve, team_a["batch"]) == unknown_batch
    assert refusal(other.batches.cancel, team_a["batch"]) == unknown_batch

    def create(input_file_id: str) -> Any:
        return other.batches.create(input_file_id=input_file_id, endpoint=ENDPOINT,
                                    completion_window="24h")  # fmt: skip

    assert refusal(create, team_a["input"]) == refusal(create, MADE_UP_FILE)
    listed = {f.id for f in other.files.list()} | {b.id for b in other.batches.list()}
    assert listed.isdisjoint(team_a.values())
    # ... and team A still has everything (its delete was refused, not done)
    assert own.files.retrieve(team_a["audio"]).bytes == HELLO.stat().st_size
    assert {team_a["audio"], team_a["input"], team_a["output"]} <= {f.id for f in own.files.list()}
    assert team_a["batch"] in {b.id for b in own.batches.list()}


def test_two_keys_of_one_project_share_its_objects(url: str, team_a: dict[str, str]) -> None:
    rotated = sdk(url, A2)
    assert rotated.batches.retrieve(team_a["batch"]).status == "completed"
    assert "a-1" in records(rotated, team_a["output"])
    assert team_a["audio"] in {f.id for f in rotated.files.list(purpose="user_data")}
    # a bare digest in the keys file is a project of its own, like a plain key
    solo = sdk(url, SOLO)
    assert refusal(solo.files.retrieve, team_a["audio"])[0] == 404


def test_a_batch_line_naming_another_projects_file_fails_alone(
    url: str, team_a: dict[str, str]
) -> None:
    client = sdk(url, B)
    data_url = "data:audio/wav;base64," + base64.b64encode(HELLO.read_bytes()).decode()
    lines = [line("theirs", team_a["audio"]), line("made-up", MADE_UP_FILE),
             line("ours", data_url)]  # fmt: skip
    source = client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    batch = client.batches.create(input_file_id=source.id, endpoint=ENDPOINT,
                                  completion_window="24h")  # fmt: skip
    done = finished(client, batch.id)
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 2), done
    text = records(client, done.output_file_id)["ours"]["response"]["body"]["text"]
    assert "hello" in text.lower()
    errors = records(client, done.error_file_id)

    def answer(custom_id: str, file_id: str) -> Any:
        response = errors[custom_id]["response"]
        return response["status_code"], json.dumps(response["body"]).replace(file_id, "ID")

    assert answer("theirs", team_a["audio"]) == answer("made-up", MADE_UP_FILE)
    assert answer("theirs", team_a["audio"])[0] == 400


def test_lists_paginate_as_openai_does(url: str) -> None:
    client = sdk(url, C)
    uploaded = [client.files.create(file=(f"f{i}.txt", b"x"), purpose="user_data").id
                for i in range(250)]  # fmt: skip
    walked = [f.id for f in client.files.list(limit=7)]
    assert walked == uploaded[::-1]  # newest first, each exactly once
    assert [f.id for f in client.files.list(limit=13, order="asc")] == uploaded
    page = client.files.list(limit=250)
    assert not page.has_more and len(page.data) == 250
    first = httpx.get(f"{url}/v1/files", params={"limit": 3},
                      headers={"authorization": f"Bearer {C}"}).json()  # fmt: skip
    assert first["has_more"] is True
    assert (first["first_id"], first["last_id"]) == (uploaded[-1], uploaded[-3])

    source = client.files.create(file=("in.jsonl", line("x", MADE_UP_FILE).encode()),
                                 purpose="batch")  # fmt: skip
    created = [client.batches.create(input_file_id=source.id, endpoint=ENDPOINT,
                                     completion_window="24h").id for _ in range(120)]  # fmt: skip
    assert [b.id for b in client.batches.list(limit=9)] == created[::-1]
    default = client.batches.list()
    assert len(default.data) == 20 and default.has_more
    # another project's batch as a cursor is as unknown as a made-up one
    other = sdk(url, B).batches.list().data[0].id

    def page_after(cursor: str) -> Any:
        return client.batches.list(after=cursor)

    assert refusal(page_after, other) == refusal(page_after, MADE_UP_BATCH)
    for bad in ({"limit": 0}, {"limit": 101}):
        response = httpx.get(f"{url}/v1/batches", params=bad,
                             headers={"authorization": f"Bearer {C}"})  # fmt: skip
        assert response.status_code == 400, response.text
    response = httpx.get(f"{url}/v1/files", params={"limit": 10_001},
                         headers={"authorization": f"Bearer {C}"})  # fmt: skip
    assert response.status_code == 400


def test_realtime_sessions_are_capped_per_project(url: str) -> None:
    socket_url = url.replace("http", "ws") + "/v1/realtime?intent=transcription&api_key="

    async def run() -> int:
        async with websockets.connect(socket_url + A1) as first:
            await first.recv()  # session.created
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(socket_url + A2):
                    pass
            # other projects, with the key in a header and in the browser's subprotocol
            headers = {"authorization": f"Bearer {B}"}
            async with websockets.connect(socket_url, additional_headers=headers) as other:
                assert json.loads(await other.recv())["type"] == "session.created"
            protocols = ["realtime", f"openai-insecure-api-key.{C}"]
            async with websockets.connect(socket_url, subprotocols=protocols) as browser:  # type: ignore[arg-type]
                assert json.loads(await browser.recv())["type"] == "session.created"
            return refused.value.response.status_code

    assert asyncio.run(run()) == 429


def test_no_key_nor_its_digest_reaches_the_logs_or_metrics(served: tuple[str, Path]) -> None:
    """Runs last: the whole run's output so far, and /metrics."""
    url, output = served
    httpx.get(f"{url}/v1/models", headers={"authorization": "Bearer not-a-key-Qx19"})
    metrics = httpx.get(f"{url}/metrics").text
    time.sleep(0.5)
    log = output.read_text(errors="replace")
    assert "api_key=***" in log  # the realtime test's query-string keys, blanked
    assert "/v1/files" in log  # the requests were logged at all
    for key in (*KEYS, "not-a-key-Qx19"):
        for secret in (key, sha(key), sha(key)[:16]):
            assert secret not in log, f"a key (or its digest) is in the server's output: {secret}"
            assert secret not in metrics
