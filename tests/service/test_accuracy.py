"""Real human speech from ../shared/samples through the real embedded model."""

from __future__ import annotations

from pathlib import Path

import groq
import openai
import pytest

from ..helpers import JFK_REFERENCE, MIT_REFERENCE, REFERENCES, SAMPLES, normalise, wer

GERMAN_WORDS = {
    "der",
    "die",
    "das",
    "und",
    "ist",
    "nicht",
    "mit",
    "zu",
    "von",
    "ein",
    "eine",
    "jede",
    "person",
    "wird",
    "hiermit",
    "kostenlos",
    "erteilt",
}


@pytest.fixture(scope="module")
def grq(server: str) -> groq.Groq:
    return groq.Groq(api_key="x", base_url=server, max_retries=0)


def test_jfk_groq_snippet(grq: groq.Groq, shared_samples: Path) -> None:
    """The issue's first snippet, verbatim, with the WER bound."""
    with (shared_samples / "jfk.flac").open("rb") as f:
        result = grq.audio.transcriptions.create(
            file=f,
            model="whisper-large-v3-turbo",
            response_format="verbose_json",
            timestamp_granularities=["word", "segment"],
        )
    assert wer(JFK_REFERENCE, result.text) <= 0.10
    extra = result.model_extra or {}
    assert extra["duration"] == pytest.approx(11.0, abs=0.01)
    words = extra["words"]
    assert len(words) >= 20
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and starts[0] >= 0 and words[-1]["end"] <= 11.0


def test_multilingual_english_half(server: str, shared_samples: Path) -> None:
    client = openai.OpenAI(api_key="x", base_url=f"{server}/v1", max_retries=0)
    with (shared_samples / "multilingual.mp3").open("rb") as f:
        result = client.audio.transcriptions.create(
            file=f,
            model="whisper-1",
            response_format="verbose_json",
            language="en",
            timestamp_granularities=["segment"],
        )
    assert result.segments
    english = " ".join(s.text for s in result.segments if s.end <= 31.0)
    assert wer(MIT_REFERENCE, english) <= 0.10
    assert result.duration == pytest.approx(59.9, abs=0.1)


def test_multilingual_translation_is_english(grq: groq.Groq, shared_samples: Path) -> None:
    with (shared_samples / "multilingual.mp3").open("rb") as f:
        result = grq.audio.translations.create(
            file=f, model="whisper-large-v3", response_format="verbose_json"
        )
    words = normalise(result.text).split()
    assert len(words) > 60
    german = [w for w in words if w in GERMAN_WORDS - {"person"}]
    assert len(german) / len(words) < 0.02, german
    assert "software" in words and "permission" in words
    assert (result.model_extra or {})["language"] == "english"


@pytest.mark.parametrize("name", ["hello_en.wav", "weather_en.mp3"])
def test_project_samples_transcribe(grq: groq.Groq, name: str) -> None:
    with (SAMPLES / name).open("rb") as f:
        result = grq.audio.transcriptions.create(file=f, model="whisper-large-v3")
    assert wer(REFERENCES[name]["text"], result.text) <= 0.10
