"""Graceful drain on a real `speech-pipeline serve` process (SIGTERM)."""

from __future__ import annotations

import json
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import numpy as np
import pytest

from audio.media.decode import decode_audio
from bench.stt import server_process

from ..helpers import SAMPLES, wait_until, wav_bytes

GRACE_SECONDS = 120


def _speech(seconds: float) -> bytes:
    clip = decode_audio(str(SAMPLES / "weather_en.mp3"))
    gap = np.zeros(8000, np.float32)
    pieces: list[np.ndarray] = []
    while sum(p.shape[0] for p in pieces) < seconds * 16000:
        pieces += [clip, gap]
    return wav_bytes(np.concatenate(pieces))


def _transcribe(url: str, body: bytes) -> tuple[int, str]:
    response = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-base"},
                          files={"file": ("a.wav", body)}, timeout=GRACE_SECONDS)  # fmt: skip
    return response.status_code, response.json().get("text", "")


def _stream(url: str, body: bytes) -> tuple[int, str]:
    done = ""
    fields = {"model": "whisper-base", "stream": "true"}
    files = {"file": ("a.wav", body)}
    with httpx.stream("POST", f"{url}/v1/audio/transcriptions", data=fields, files=files,
                      timeout=GRACE_SECONDS) as response:  # fmt: skip
        for line in response.iter_lines():
            if line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "transcript.text.done":
                    done = event["text"]
        return response.status_code, done


def _pending(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    line = next(x for x in metrics.splitlines() if x.startswith("speech_inference_pending "))
    return float(line.split()[1])


def _refused(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=5).status_code == 503
    except httpx.TransportError:  # the listening socket is closed
        return True


def _late_request_refused(url: str, body: bytes) -> bool:
    """A request after SIGTERM is refused: the listening socket is closed, or — in the
    moment before uvicorn closes it — the app answers 503 `shutting_down`."""
    try:
        response = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-base"},
                              files={"file": ("a.wav", body)}, timeout=10)  # fmt: skip
    except httpx.TransportError:
        return True
    return response.status_code == 503 and response.json()["error"]["code"] == "shutting_down"


@pytest.mark.slow
def test_sigterm_lets_every_request_in_flight_finish(tmp_path: object) -> None:
    env = {"SPEECH_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS), "SPEECH_WARMUP": "false",
           "SPEECH_LOG_LEVEL": "warning"}  # fmt: skip
    clip, long = _speech(20), _speech(40)
    with server_process(env) as (url, process), ThreadPoolExecutor(10) as pool:
        assert _transcribe(url, _speech(3))[0] == 200  # the model is loaded
        futures: list[Future[tuple[int, str]]] = [
            *(pool.submit(_transcribe, url, clip) for _ in range(8)),
            *(pool.submit(_stream, url, long) for _ in range(2)),
        ]
        wait_until(lambda: _pending(url) >= 10, timeout=60)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        wait_until(lambda: _refused(url), timeout=10)
        assert _late_request_refused(url, clip)
        results = [f.result(timeout=GRACE_SECONDS) for f in futures]
        assert process.wait(timeout=GRACE_SECONDS) == 0
        assert time.monotonic() - signalled < GRACE_SECONDS
    assert [status for status, _ in results] == [200] * 10
    assert all("umbrella" in text.lower() for _, text in results)
