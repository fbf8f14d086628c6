"""The Files and Batches APIs with the real openai and groq SDKs, on a live server."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import groq
import httpx
import openai
import pytest

from audio.settings import BatchSettings, UrlSettings
from bench.postgres import create_database
from bench.server import free_port
from bench.stt import server_process

from ..helpers import SAMPLES, live_server

pytestmark = pytest.mark.slow

HELLO = SAMPLES / "hello_en.wav"
WEATHER = SAMPLES / "weather_en.mp3"
ENDPOINT = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def audio_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain HTTP server on loopback serving the project's samples."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(SAMPLES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("allowed-audio")
    (root / "hello.wav").write_bytes(HELLO.read_bytes())
    return root


@pytest.fixture(scope="module")
def url(make_settings, tmp_path_factory: pytest.TempPathFactory, roots: Path,  # type: ignore[no-untyped-def]
        database_url: str | None) -> Iterator[str]:  # fmt: skip
    batch = BatchSettings(data_dir=tmp_path_factory.mktemp("batch"), allowed_roots=[roots],
                          database_url=database_url)  # fmt: skip
    settings = make_settings(batch=batch, url=UrlSettings(allow_networks=["127.0.0.0/8"]))
    with live_server(settings) as (base, _app):
        yield base


def _line(custom_id: str, **body: Any) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
                       "body": {"model": "whisper-1", "language": "en", **body}})  # fmt: skip


def _wait(get: Any, batch_id: str, timeout: float = 400) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        batch = get(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.5)


def _records(content: bytes) -> dict[str, dict[str, Any]]:
    records = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
    by_id = {r["custom_id"]: r for r in records}
    assert len(by_id) == len(records)  # each custom_id once
    return by_id


def test_openai_sdk_batch_of_mixed_sources(url: str, audio_host: str, roots: Path) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x")
    uploaded = client.files.create(file=("weather.mp3", WEATHER.read_bytes()), purpose="user_data")
    data_url = "data:audio/wav;base64," + base64.b64encode(HELLO.read_bytes()).decode()
    good = {
        **{f"http-{i}": {"url": f"{audio_host}/{name}", "response_format": fmt}
           for i, (name, fmt) in enumerate([("hello_en.wav", "json"), ("weather_en.mp3", "json"),
                                            ("hello_en.wav", "verbose_json"),
                                            ("weather_en.mp3", "text"), ("hello_en.wav", "srt"),
                                            ("weather_en.mp3", "vtt")])},
        **{f"data-{i}": {"url": data_url} for i in range(5)},
        **{f"file-{i}": {"url": uploaded.id} for i in range(5)},
        **{f"local-{i}": {"url": (roots / "hello.wav").as_uri()} for i in range(2)},
    }  # fmt: skip
    broken = {
        "outside-roots": ({"url": "file:///etc/passwd"}, 400),
        "private-address": ({"url": "http://10.255.255.1/x.wav"}, 400),
        "not-audio": ({"url": "data:audio/wav;base64,aGVsbG8gd29ybGQ="}, 400),
        "unknown-model": ({"url": data_url, "model": "whisper-9000"}, 404),
        "bad-format": ({"url": data_url, "response_format": "xml"}, 400),
        "no-audio": ({}, 400),
        "unknown-file": ({"url": "file-doesnotexist"}, 400),
    }
    lines = [_line(cid, **body) for cid, body in good.items()]
    lines += [_line(cid, **body) for cid, (body, _status) in broken.items()]
    assert len(lines) >= 20
    source = client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    assert source.purpose == "batch" and source.bytes > 0
    batch = client.batches.create(input_file_id=source.id, endpoint=ENDPOINT,
                                  completion_window="24h", metadata={"run": "test"})  # fmt: skip
    assert batch.status == "validating" and batch.request_counts.total == len(lines)
    done = _wait(client.batches.retrieve, batch.id)
    assert done.status == "completed", done
    assert done.request_counts.completed == len(good)
    assert done.request_counts.failed == len(broken)
    assert done.metadata == {"run": "test"}
    assert done.output_file_id and done.error_file_id
    output = _records(client.files.content(done.output_file_id).content)
    errors = _records(client.files.content(done.error_file_id).content)
    assert set(output) == set(good) and set(errors) == set(broken)
    for cid, (_body, status) in broken.items():
        record = errors[cid]
        assert record["response"]["status_code"] == status, record
        assert record["response"]["body"]["error"]["message"]
    # each good line's text equals the synchronous route's on the same audio
    sync = {
        path: client.audio.transcriptions.create(model="whisper-1", file=path, language="en").text
        for path in (HELLO, WEATHER)
    }  # fmt: skip
    for cid, body in good.items():
        response = output[cid]["response"]
        assert response["status_code"] == 200 and response["request_id"].startswith("req_")
        source_path = WEATHER if ("weather" in body["url"] or body["url"] == uploaded.id) else HELLO
        fmt = body.get("response_format", "json")
        result = response["body"]
        if fmt in ("json", "verbose_json"):
            assert result["text"] == sync[source_path], cid
        elif fmt == "text":
            assert result.strip() == sync[source_path]
        else:
            assert sync[source_path].split()[0].strip(",.") in result
    assert any(b.id == batch.id for b in client.batches.list())


def test_groq_sdk_batch_round_trip(url: str, audio_host: str) -> None:
    client = groq.Groq(base_url=url, api_key="x")
    lines = [_line(f"g{i}", url=f"{audio_host}/hello_en.wav") for i in range(3)]
    source = client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    batch = client.batches.create(completion_window="24h", endpoint=ENDPOINT,
                                  input_file_id=source.id)  # fmt: skip
    done = _wait(client.batches.retrieve, batch.id)
    assert done.status == "completed" and done.request_counts.completed == 3
    content = client.files.content(done.output_file_id)
    output = _records(content.read())
    assert set(output) == {"g0", "g1", "g2"}
    assert "test of the speech service" in output["g0"]["response"]["body"]["text"]


@pytest.mark.parametrize(
    ("content", "status", "needle"),
    [
        (b'{"custom_id": "a"\nnot json at all\n', 400, "line 1 is not valid JSON"),
        (_line("a", url="x").replace(ENDPOINT, "/v1/chat/completions").encode(), 400,
         "not this batch's endpoint"),
        (f"{_line('a', url='x')}\n{_line('a', url='y')}".encode(), 400, "already used on line 1"),
        ("\n".join(_line(f"c{i}", url="x") for i in range(50_001)).encode(), 413,
         "at most 50000"),
        (b"\n\n", 400, "holds no requests"),
    ],
    ids=["not-json", "other-endpoint", "duplicate-custom-id", "50001-lines", "empty"],
)  # fmt: skip
def test_bad_batch_inputs_are_refused_whole(
    url: str, content: bytes, status: int, needle: str
) -> None:
    client = httpx.Client(base_url=f"{url}/v1", timeout=120)
    source = client.post("/files", data={"purpose": "batch"},
                         files={"file": ("in.jsonl", content)}).json()  # fmt: skip
    request = {"input_file_id": source["id"], "endpoint": ENDPOINT, "completion_window": "24h"}
    response = client.post("/batches", json=request)
    assert response.status_code == status
    assert needle in response.json()["error"]["message"]


def test_files_and_batches_refuse_what_they_cannot_take(url: str) -> None:
    client = httpx.Client(base_url=f"{url}/v1", timeout=60)
    unknown = client.post("/batches", json={"input_file_id": "file-nope", "endpoint": ENDPOINT})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    request = {"input_file_id": "file-nope", "endpoint": ENDPOINT, "completion_window": "1y"}
    bad_window = client.post("/batches", json=request)
    assert bad_window.status_code == 400
    assert client.get("/files/file-nope").status_code == 404
    assert client.get("/batches/batch_nope").status_code == 404

    assert _declared_upload(url, 300_000_000).startswith("HTTP/1.1 413")
    wrong_purpose = client.post("/files", data={"purpose": "launch"},
                                files={"file": ("a.jsonl", b"{}")})  # fmt: skip
    assert wrong_purpose.status_code == 400 and wrong_purpose.json()["error"]["param"] == "purpose"
    stored = client.post("/files", data={"purpose": "batch"}, files={"file": ("a.jsonl", b"{}")})
    file_id = stored.json()["id"]
    assert client.get(f"/files/{file_id}/content").content == b"{}"
    assert client.delete(f"/files/{file_id}").json() == {"id": file_id, "object": "file",
                                                         "deleted": True}  # fmt: skip
    assert client.get(f"/files/{file_id}").status_code == 404


def _declared_upload(url: str, size: int) -> str:
    """Announce a `size`-byte upload to /files and send a few bytes of it: the server
    must answer from the header alone (the status line it sent)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/files HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n\r\n".encode()
            + b"x" * 1024
        )
        return sock.recv(4096).decode(errors="replace")


@pytest.fixture
def process_env(
    tmp_path: Path, database_url: str | None, request: pytest.FixtureRequest
) -> dict[str, str]:
    """A server process of the test's own: its data directory and, on PostgreSQL, its own
    database (the module's server still runs, and would be a replica that cannot see
    this one's files directory)."""
    env = {
        "SPEECH_BATCH__DATA_DIR": str(tmp_path / "batch"),
        "SPEECH_STT__FALLBACK_MODEL": "whisper-base", "SPEECH_WARMUP": "false",
        "SPEECH_LOG_LEVEL": "warning", "SPEECH_BATCH__LEASE_SECONDS": "3",
    }  # fmt: skip
    if database_url is not None:
        base: str = request.getfixturevalue("postgres_base")
        env["SPEECH_BATCH__DATABASE_URL"] = create_database(base, f"own_{uuid.uuid4().hex[:12]}")
    return env


def test_sigkill_mid_batch_loses_nothing_and_repeats_nothing(process_env: dict[str, str]) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    data_url = "data:audio/wav;base64," + base64.b64encode(HELLO.read_bytes()).decode()
    lines = [_line(f"k{i}", url=data_url) for i in range(14)] + [_line("bad", url="file:///x")]
    with server_process(process_env, port) as (_url, process):
        client = openai.OpenAI(base_url=base, api_key="x")
        source = client.files.create(file=("in.jsonl", "\n".join(lines).encode()),
                                     purpose="batch")  # fmt: skip
        batch = client.batches.create(input_file_id=source.id, endpoint=ENDPOINT,
                                      completion_window="24h")  # fmt: skip
        deadline = time.monotonic() + 120
        while client.batches.retrieve(batch.id).request_counts.completed < 4:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)  # no drain, no clean shutdown
        process.wait()
    with server_process(process_env, port):
        done = _wait(client.batches.retrieve, batch.id)
        assert done.status == "completed"
        output = _records(client.files.content(done.output_file_id).content)
        errors = _records(client.files.content(done.error_file_id).content)
    assert sorted([*output, *errors]) == sorted(json.loads(line)["custom_id"] for line in lines)
    assert set(errors) == {"bad"}
    assert done.request_counts.completed == 14 and done.request_counts.failed == 1


def test_cancel_keeps_finished_lines(url: str) -> None:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x")
    data_url = "data:audio/wav;base64," + base64.b64encode(HELLO.read_bytes()).decode()
    lines = [_line(f"c{i}", url=data_url) for i in range(30)]
    source = client.files.create(file=("in.jsonl", "\n".join(lines).encode()), purpose="batch")
    batch = client.batches.create(input_file_id=source.id, endpoint=ENDPOINT,
                                  completion_window="24h")  # fmt: skip
    deadline = time.monotonic() + 120
    while client.batches.retrieve(batch.id).request_counts.completed < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = _wait(client.batches.retrieve, batch.id)
    assert done.status == "cancelled" and done.cancelled_at
    output = _records(client.files.content(done.output_file_id).content)
    assert 2 <= len(output) == done.request_counts.completed < 30
    again = httpx.post(f"{url}/v1/batches/{batch.id}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_batch_lines_can_be_diarized(url: str) -> None:
    """Batch lines take the diarization fields as the route does (and its errors)."""
    data_url = "data:audio/wav;base64," + base64.b64encode(HELLO.read_bytes()).decode()
    bodies = {
        "diarized": {"response_format": "diarized_json"},
        "verbose": {"response_format": "verbose_json", "diarize": True},
        "prompt": {"response_format": "diarized_json", "prompt": "hello"},
    }
    lines = [json.dumps({"custom_id": cid, "method": "POST", "url": ENDPOINT,
                         "body": {"model": "whisper-1", "url": data_url, **body}})
             for cid, body in bodies.items()]  # fmt: skip
    client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)
    batch_file = client.files.create(file=("d.jsonl", "\n".join(lines).encode()), purpose="batch")
    batch = client.batches.create(
        input_file_id=batch_file.id, endpoint=ENDPOINT, completion_window="24h"
    )
    done = _wait(client.batches.retrieve, batch.id)
    assert done.request_counts.completed == 2 and done.request_counts.failed == 1
    out = _records(client.files.content(done.output_file_id).content)
    diarized = out["diarized"]["response"]["body"]
    assert {s["speaker"] for s in diarized["segments"]} == {"A"}
    assert "short test" in diarized["text"]
    assert out["verbose"]["response"]["body"]["segments"][0]["speaker"] == "A"
    errors = _records(client.files.content(done.error_file_id).content)
    assert errors["prompt"]["response"]["body"]["error"]["param"] == "prompt"
