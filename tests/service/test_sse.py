"""stream=true: Server-Sent Events parsed by the real openai SDK's streaming iterator."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from ..helpers import MIT_REFERENCE, REFERENCES, SAMPLES, wer


@pytest.fixture(scope="module")
def client(server: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="x", base_url=f"{server}/v1", max_retries=0)


@pytest.mark.parametrize("algorithm", ["chunked", "sequential"])
def test_openai_sdk_stream(client: openai.OpenAI, algorithm: str) -> None:
    with (SAMPLES / "weather_en.mp3").open("rb") as f:
        stream = client.audio.transcriptions.create(
            file=f, model="whisper-1", stream=True, extra_body={"algorithm": algorithm}
        )
        events = list(stream)
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = [e for e in events if e.type == "transcript.text.done"]
    assert len(done) == 1 and events[-1] is done[0]
    assert deltas and "".join(deltas).strip() == done[0].text
    assert wer(REFERENCES["weather_en.mp3"]["text"], done[0].text) <= 0.1


def test_long_file_streams_several_deltas(client: openai.OpenAI, shared_samples: Path) -> None:
    with (shared_samples / "multilingual.mp3").open("rb") as f:
        events = list(client.audio.transcriptions.create(
            file=f, model="whisper-1", stream=True, language="en"))  # fmt: skip
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert len(deltas) >= 3
    done = events[-1]
    assert done.type == "transcript.text.done"
    english = done.text[: len(MIT_REFERENCE) + 40]
    assert wer(MIT_REFERENCE, english) <= 0.25  # the German half follows


def test_stream_headers_and_silence(server: str) -> None:
    import numpy as np

    from ..helpers import wav_bytes

    response = httpx.post(
        f"{server}/v1/audio/transcriptions",
        data={"model": "whisper-1", "stream": "true"},
        files={"file": ("s.wav", wav_bytes(np.zeros(16000 * 5, np.float32)))},
        timeout=120,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-request-id"].startswith("req_")
    data = [line for line in response.text.splitlines() if line.startswith("data:")]
    assert data == ['data: {"type": "transcript.text.done", "text": ""}']


def test_stream_of_bad_file_is_a_400_before_streaming(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.transcriptions.create(
            file=("x.wav", b"not audio at all" * 10), model="whisper-1", stream=True
        )
    assert err.value.status_code == 400
