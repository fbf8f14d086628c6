"""The nineteen English voices on Kokoro-82M: each its own speaker, intelligible through
the embedded Whisper, of its catalog gender; Piper one setting away and the fallback
where Kokoro's files are absent."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest
import pyworld

from voices.catalog import VoiceCatalog

from ..helpers import kokoro_installed, live_server, wav_bytes, wer

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not kokoro_installed(), reason="Kokoro's voices are not installed "
                       "(`make install` fetches them with `npm pack kokoro-js@1.2.1`)"),
]  # fmt: skip

CATALOG = VoiceCatalog.load()
ENGLISH = [v for v in CATALOG.voices if v.name.endswith("-PlayAI") and v.language == "en"]
SENTENCE = "Please call me back this afternoon, Anna. Is the meeting still on?"
FEMALE_MIN_HZ, MALE_MAX_HZ = 130, 150
"""Median pitch bounds by catalog gender (Quinn and Gail are low female voices, as Groq
describes them: af_alloy measured 134 Hz, af_kore 149 Hz; af_jessica the highest)."""


@pytest.fixture(scope="module")
def api(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(make_settings(workers={"workers": 2})) as (url, _app):
        yield url


def _speak(url: str, voice: str, text: str = SENTENCE, **extra: object) -> tuple[np.ndarray, int]:
    client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)
    body = client.audio.speech.create(model="playai-tts", voice=voice, input=text,
                                      response_format="wav", extra_body=extra).content  # fmt: skip
    with wave.open(io.BytesIO(body)) as w:
        frames = w.readframes(w.getnframes())
        rate = w.getframerate()
    return np.frombuffer(frames, "<i2").astype(np.float32) / 32768, rate


def _transcribe(url: str, samples: np.ndarray, rate: int) -> str:
    body = wav_bytes(samples, rate)
    client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)
    return client.audio.transcriptions.create(
        file=("speech.wav", body), model="whisper-1", language="en"
    ).text


def test_the_english_voices_are_nineteen_kokoro_speakers(api: str) -> None:
    voices = openai.OpenAI(api_key="x", base_url=f"{api}/v1").get("/audio/voices", cast_to=dict)
    english = {v["id"]: v for v in voices["data"] if v["id"] in {e.name for e in ENGLISH}}
    assert len(english) == 19
    assert all(v["engine"] == f"kokoro:{v['speaker']}" for v in english.values())
    assert len({v["speaker"] for v in english.values()}) == 19


@pytest.mark.parametrize("voice", ENGLISH, ids=[v.name for v in ENGLISH])
def test_every_english_voice_is_intelligible_and_of_its_gender(api: str, voice) -> None:  # type: ignore[no-untyped-def]
    samples, rate = _speak(api, voice.name)
    assert rate == 24000 and samples.shape[0] / rate > 2.0
    text = _transcribe(api, samples, rate)
    assert wer(SENTENCE, text) <= 0.25, (voice.name, text)
    f0, _t = pyworld.harvest(samples.astype(np.float64), rate, f0_floor=60, f0_ceil=500)
    pitch = float(np.median(f0[f0 > 0]))
    if voice.gender == "female":
        assert pitch >= FEMALE_MIN_HZ, (voice.name, pitch)
    else:
        assert pitch <= MALE_MAX_HZ, (voice.name, pitch)


def test_kokoro_speakers_answer_to_their_own_names(api: str) -> None:
    samples, rate = _speak(api, "bm_george", "Good evening.")
    assert rate == 24000 and samples.shape[0] / rate > 0.4


def test_piper_is_one_setting_away_and_the_fallback(make_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`SPEECH_TTS__ENGLISH_ENGINE=piper`, and a server whose Kokoro directory is empty,
    both speak every voice with Piper (one speaker, shaped per voice)."""
    for tts in ({"english_engine": "piper"}, {"kokoro_dir": tmp_path / "no-kokoro"}):
        with live_server(make_settings(tts=tts)) as (url, _app):
            voices = openai.OpenAI(api_key="x", base_url=f"{url}/v1").get(
                "/audio/voices", cast_to=dict
            )
            fritz = next(v for v in voices["data"] if v["id"] == "Fritz-PlayAI")
            assert fritz["engine"] == "piper:en_US-joe-medium" and fritz["installed"]
            samples, _rate = _speak(url, "Fritz-PlayAI", "Hello there.")
            assert samples.shape[0] > 0
