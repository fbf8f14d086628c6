"""Every voice and alias: valid WAVs; intelligible; distinct; per the catalog's genders.

These check the Piper rendering of the catalog (one speaker, shaped per voice: what
`SPEECH_TTS__ENGLISH_ENGINE=piper` and a server without Kokoro's files speak); the
Kokoro speakers are `test_kokoro.py`'s."""

from __future__ import annotations

import io
import itertools
import wave
from collections.abc import Iterator

import groq
import numpy as np
import openai
import pytest
import pyworld

from voices.catalog import VoiceCatalog

from ..helpers import live_server, wer

CATALOG = VoiceCatalog.load()
SHAPED = [v for v in CATALOG.voices if v.name != v.speaker]
"""The catalog's own voices (the Kokoro speakers' names render them unshaped)."""
MODEL_FOR = {"en": "playai-tts", "ar": "playai-tts-arabic"}
ALL_NAMES = [(v, n) for v in CATALOG.voices for n in (v.name, *v.aliases)]
SENTENCES = (
    "The quick brown fox jumps over the lazy dog. "
    "Please call me back when you have a free moment this afternoon. "
    "Our new feature makes it easy to share photos with your family."
)
ARABIC = "مرحبا بكم في خدمة تحويل النص إلى كلام."


@pytest.fixture(scope="module")
def api(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Piper's timbre noise off: every render is reproducible, so is every verdict."""
    settings = make_settings(
        workers={"workers": 2}, tts={"piper_noise_scale": 0.0, "english_engine": "piper"}
    )
    with live_server(settings) as (url, _app):
        yield url


STREAMING_SIZE = 0xFFFFFFFF
"""The RIFF and data sizes of a streamed WAV (as OpenAI's): unknown when it starts."""


def read_wav(body: bytes) -> tuple[np.ndarray, int]:
    """Pipecat's way: the whole body through `wave.open`. Sizes are exact (a whole file,
    `stream: false`) or the streaming ones (the default); either way every byte after
    the header is PCM."""
    with wave.open(io.BytesIO(body)) as w:
        assert w.getcomptype() == "NONE"
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        frames = w.readframes(w.getnframes())
        rate = w.getframerate()
    assert len(frames) == len(body) - 44
    riff, data = int.from_bytes(body[4:8], "little"), int.from_bytes(body[40:44], "little")
    assert (riff, data) in ((len(body) - 8, len(body) - 44), (STREAMING_SIZE, STREAMING_SIZE))
    assert int.from_bytes(body[20:22], "little") == 1  # PCM
    return np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0, rate


@pytest.mark.parametrize(("voice", "name"), ALL_NAMES, ids=[n for _, n in ALL_NAMES])
def test_every_voice_and_alias_is_a_valid_wav(api: str, voice, name: str) -> None:  # type: ignore[no-untyped-def]
    client = groq.Groq(api_key="x", base_url=api, max_retries=0)
    text = "Hello, nice to meet you." if voice.language == "en" else "مرحبا بكم."
    model = MODEL_FOR[voice.language]
    rate = 16000 if name == voice.name else 24000
    response = client.audio.speech.create(
        model=model, voice=name, input=text, response_format="wav",
        extra_body={"sample_rate": rate},
    )  # fmt: skip
    assert response.http_response.headers["content-type"].startswith("audio/")
    assert response.http_response.headers["x-voice"] == voice.name
    samples, got_rate = read_wav(response.read())
    assert got_rate == rate
    assert 0.5 < samples.shape[0] / rate < 5.0
    assert float(np.abs(samples).max()) > 0.1


@pytest.fixture(scope="module")
def renders(api: str) -> dict[str, tuple[np.ndarray, int]]:
    """Every voice reading its language's fixed text once (16 kHz WAV)."""
    client = openai.OpenAI(api_key="x", base_url=f"{api}/v1", max_retries=0)
    out = {}
    for voice in SHAPED:
        body = client.audio.speech.create(
            model=MODEL_FOR[voice.language], voice=voice.name,  # type: ignore[arg-type]
            input=SENTENCES if voice.language == "en" else ARABIC, response_format="wav",
            extra_body={"sample_rate": 16000},
        ).read()  # fmt: skip
        out[voice.name] = read_wav(body)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("voice", [v.name for v in SHAPED if v.language == "en"])
def test_english_voice_is_intelligible(
    api: str, renders: dict[str, tuple[np.ndarray, int]], voice: str
) -> None:
    """Round trip through the embedded Whisper, via the service's own STT route."""
    samples, rate = renders[voice]
    body = io.BytesIO()
    with wave.open(body, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((samples * 32767).astype("<i2").tobytes())
    client = openai.OpenAI(api_key="x", base_url=f"{api}/v1", max_retries=0)
    text = client.audio.transcriptions.create(
        file=("speech.wav", body.getvalue()), model="whisper-1", language="en",
        extra_body={"algorithm": "sequential"},
    ).text  # fmt: skip
    assert wer(SENTENCES, text) <= 0.10, text


def _median_f0(samples: np.ndarray, rate: int) -> float:
    """An estimator independent of the shaping's own (Harvest, not DIO)."""
    f0, _t = pyworld.harvest(samples.astype(np.float64), rate, f0_floor=60, f0_ceil=500)
    return float(np.median(f0[f0 > 0]))


def _speech_seconds(samples: np.ndarray, rate: int) -> float:
    """Articulation time: 10-ms frames louder than -35 dBFS (pauses excluded)."""
    hop = rate // 100
    frames = samples[: samples.shape[0] // hop * hop].reshape(-1, hop)
    return float((np.sqrt((frames**2).mean(axis=1)) > 10 ** (-35 / 20)).sum()) / 100


@pytest.mark.slow
def test_voices_are_distinct_and_match_their_gender(
    renders: dict[str, tuple[np.ndarray, int]],
) -> None:
    measured = {}
    for voice in SHAPED:
        samples, rate = renders[voice.name]
        f0 = _median_f0(samples, rate)
        if voice.gender == "female":
            assert f0 >= 165, (voice.name, f0)
        else:
            assert f0 <= 150, (voice.name, f0)
        measured[voice.name] = (voice.language, f0, _speech_seconds(samples, rate))
    for (a, (lang_a, f0_a, dur_a)), (b, (lang_b, f0_b, dur_b)) in itertools.combinations(
        measured.items(), 2
    ):
        if lang_a != lang_b:
            continue
        same_pitch = abs(f0_a - f0_b) / min(f0_a, f0_b) <= 0.05
        same_rate = abs(dur_a - dur_b) / min(dur_a, dur_b) <= 0.05
        assert not (same_pitch and same_rate), (a, b, f0_a, f0_b, dur_a, dur_b)
