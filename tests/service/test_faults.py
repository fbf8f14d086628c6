"""Faults a real deployment meets: clients that leave, weights that will not load, a full
disk, an engine that raises. Each is answered clearly and the next request is served."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from audio.media.decode import decode_audio
from transcriber.chunked import ChunkedEngine

from ..helpers import SAMPLES, live_server, wait_until, wav_bytes

CLIP = (SAMPLES / "hello_en.wav").read_bytes()


def _speech(seconds: float) -> bytes:
    clip = decode_audio(str(SAMPLES / "weather_en.mp3"))
    pieces: list[np.ndarray] = []
    while sum(p.shape[0] for p in pieces) < seconds * 16000:
        pieces += [clip, np.zeros(16000, np.float32)]
    return wav_bytes(np.concatenate(pieces))


def _transcribe(url: str, body: bytes = CLIP, model: str = "whisper-1") -> httpx.Response:
    return httpx.post(f"{url}/v1/audio/transcriptions", data={"model": model},
                      files={"file": ("a.wav", body)}, timeout=120)  # fmt: skip


def _count(url: str, status: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in httpx.get(f"{url}/metrics").text.splitlines()
        if line.startswith("speech_requests_total{") and f'status="{status}"' in line
    )


@pytest.fixture(scope="module")
def service(make_settings) -> Any:  # type: ignore[no-untyped-def]
    with live_server(make_settings()) as (url, app):
        assert _transcribe(url).status_code == 200  # the model is loaded
        yield url, app


def test_disconnect_mid_upload_is_counted_and_harmless(service: Any) -> None:
    url, app = service
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(
            b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n\r\n--b\r\n"
            b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
            + CLIP[:60000]
        )  # fmt: skip
    wait_until(lambda: _count(url, "499") >= 1)
    assert app.state.stt.pool.pending == 0
    assert _transcribe(url).status_code == 200


def test_disconnect_mid_sse_frees_its_windows(service: Any) -> None:
    url, app = service
    batcher = app.state.stt.chunked_engine("whisper-base").batcher
    before_run, before_cancelled = batcher.windows_run, batcher.windows_cancelled
    fields, files = {"model": "whisper-1", "stream": "true"}, {"file": ("a.wav", _speech(240))}
    with httpx.stream("POST", f"{url}/v1/audio/transcriptions", data=fields, files=files,
                      timeout=120) as response:  # fmt: skip
        for line in response.iter_lines():
            if "transcript.text.delta" in line:
                break  # the first words arrived; the client leaves
    wait_until(lambda: app.state.stt.pool.pending == 0 and batcher.pending() == 0
               and batcher.running() == 0, timeout=60)  # fmt: skip
    assert batcher.windows_cancelled > before_cancelled
    assert batcher.windows_run - before_run < 8  # of about 10 windows
    assert _transcribe(url).status_code == 200


def test_disconnect_mid_speech_stream_stops_rendering(service: Any) -> None:
    url, app = service
    tts = app.state.tts
    text = " ".join(f"This is sentence number {i} of a long reply." for i in range(60))
    before = tts.seconds_rendered
    with httpx.stream("POST", f"{url}/v1/audio/speech", timeout=120, json={
        "model": "playai-tts", "voice": "Fritz-PlayAI", "input": text, "response_format": "pcm",
    }) as response:  # fmt: skip
        next(response.iter_bytes())
    wait_until(lambda: app.state.stt.pool.pending == 0, timeout=30)
    assert tts.seconds_rendered - before < 30  # of about 150 s had it run to the end


def test_model_that_fails_to_load_is_a_clear_503(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"not a CTranslate2 model")
    (broken / "config.json").write_text("{}")
    from audio.settings import DEFAULT_MODEL_SOURCES

    models = {**DEFAULT_MODEL_SOURCES, "broken": str(broken)}
    with live_server(make_settings(stt={"models": models})) as (url, _app):
        refused = [_transcribe(url, model="broken") for _ in range(2)]
        fine = _transcribe(url, model="whisper-base")
    for response in refused:
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "model_unavailable" and "failed to load" in error["message"]
        assert str(tmp_path) not in response.text
    assert fine.status_code == 200 and "hello" in fine.json()["text"].lower()


def test_a_full_spool_disk_is_a_clear_503(service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _app = service

    def full(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("audio.media.spool.SpooledSamples.append", full)
    response = _transcribe(url, _speech(150))  # past 120 s the decoded audio is spooled
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "insufficient_storage"
    assert response.headers["retry-after"] == "1"
    assert _transcribe(url).status_code == 200


def test_an_engine_that_raises_is_a_500_without_trace(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _app = service
    original = ChunkedEngine.stream
    calls: list[int] = []

    def fails_once(self: ChunkedEngine, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("secret detail at /srv/internal/path")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ChunkedEngine, "stream", fails_once)
    failed = _transcribe(url)
    assert failed.status_code == 500
    error = failed.json()["error"]
    assert error["type"] == "server_error"
    assert failed.headers["x-request-id"] in error["message"]
    assert "secret" not in failed.text and "Traceback" not in failed.text
    assert _transcribe(url).status_code == 200


def test_slow_clients_do_not_hold_up_others(service: Any) -> None:
    """Uploads are read on the event loop, not in an inference worker: clients trickling
    their bodies byte by byte leave every worker free for the others."""
    url, app = service
    host, port = url.removeprefix("http://").split(":")
    slow = [
        socket.create_connection((host, int(port)))
        for _ in range(app.state.settings.workers.workers + 2)
    ]
    try:
        for raw in slow:
            raw.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 1000000\r\nContent-Type: multipart/form-data; "
                        b"boundary=b\r\n\r\n--b\r\n")  # fmt: skip
        for _ in range(5):
            for raw in slow:
                raw.sendall(b"x" * 64)
        answered = _transcribe(url)
        assert answered.status_code == 200 and "hello" in answered.json()["text"].lower()
        assert app.state.stt.pool.pending == 0  # the slow ones hold no worker
    finally:
        for raw in slow:
            raw.close()


def test_a_tiny_file_that_decodes_to_hours_is_refused(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Decompression: ten minutes of FLAC silence is a few KB; decoding stops at the limit."""
    from audio.media.encode import encode_whole

    bomb = encode_whole([(np.zeros(16000 * 600, np.float32), 16000)], "flac", 16000)
    assert len(bomb) < 200_000
    settings = make_settings(limits={"max_duration_seconds": 60})
    with live_server(settings) as (url, _app):
        refused = _transcribe(url, bomb)
        fine = _transcribe(url)
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == (
        "audio is longer than the maximum duration of 60 seconds"
    )
    assert fine.status_code == 200
