"""Every response format and granularity through the real groq and openai SDKs."""

from __future__ import annotations

import itertools
from typing import Any

import groq
import openai
import pytest
import soundfile as sf
import srt
import webvtt
from groq.types.audio import Transcription as GroqTranscription
from openai.types.audio import Transcription, TranscriptionVerbose

from ..helpers import REFERENCES, SAMPLES, wer

CLIP = SAMPLES / "hello_en.wav"
REFERENCE = REFERENCES["hello_en.wav"]["text"]


@pytest.fixture(scope="module")
def oai(server: str) -> openai.OpenAI:
    return openai.OpenAI(api_key="x", base_url=f"{server}/v1", max_retries=0)


@pytest.fixture(scope="module")
def grq(server: str) -> groq.Groq:
    return groq.Groq(api_key="x", base_url=server, max_retries=0)


def _check_times(items: list[Any], duration: float) -> None:
    last_start = 0.0
    for item in items:
        assert 0.0 <= item.start <= item.end <= duration
        assert item.start >= last_start
        last_start = item.start


@pytest.mark.parametrize(
    "granularities", [None, ["segment"], ["word"], ["word", "segment"]], ids=str
)
def test_openai_verbose_json(oai: openai.OpenAI, granularities: list[str] | None) -> None:
    kwargs: dict[str, Any] = {}
    if granularities is not None:
        kwargs["timestamp_granularities"] = granularities
    with CLIP.open("rb") as f:
        result = oai.audio.transcriptions.create(
            file=f, model="whisper-1", response_format="verbose_json", **kwargs
        )
    assert isinstance(result, TranscriptionVerbose)
    assert wer(REFERENCE, result.text) <= 0.1
    assert result.language == "english"
    assert result.duration == pytest.approx(sf.info(str(CLIP)).duration, abs=0.01)
    wants_words = granularities is not None and "word" in granularities
    wants_segments = granularities is None or "segment" in granularities
    assert (result.words is not None) == wants_words
    assert (result.segments is not None) == wants_segments
    if result.segments is not None:
        _check_times(result.segments, result.duration)
        assert result.segments[0].text.startswith(" ")
        dumped = result.segments[0].model_dump()
        for key in (
            "id",
            "seek",
            "tokens",
            "temperature",
            "avg_logprob",
            "compression_ratio",
            "no_speech_prob",
        ):
            assert dumped[key] is not None, key
    if result.words is not None:
        _check_times(result.words, result.duration)
        assert " ".join(w.word for w in result.words).lower().startswith("hello")


def test_openai_json(oai: openai.OpenAI) -> None:
    with CLIP.open("rb") as f:
        result = oai.audio.transcriptions.create(file=f, model="whisper-1")
    assert isinstance(result, Transcription)
    assert wer(REFERENCE, result.text) <= 0.1


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_openai_text_formats(oai: openai.OpenAI, fmt: str) -> None:
    with CLIP.open("rb") as f:
        raw = oai.audio.transcriptions.with_raw_response.create(
            file=f,
            model="whisper-1",
            response_format=fmt,  # type: ignore[arg-type]
        )
    body = raw.parse()
    assert isinstance(body, str)
    expected_type = "text/vtt" if fmt == "vtt" else "text/plain"
    assert raw.headers["content-type"].startswith(expected_type)
    assert raw.headers["x-request-id"].startswith("req_")
    assert raw.headers["x-served-model"] == "whisper-base"
    if fmt == "text":
        assert body.endswith("\n") and wer(REFERENCE, body) <= 0.1
    elif fmt == "srt":
        subs = list(srt.parse(body))
        assert subs and subs[0].index == 1
        assert wer(REFERENCE, " ".join(s.content for s in subs)) <= 0.1
        assert all(a.start <= b.start for a, b in itertools.pairwise(subs))
    else:
        import io

        captions = webvtt.from_buffer(io.StringIO(body))
        assert len(captions) >= 1
        assert wer(REFERENCE, " ".join(c.text for c in captions)) <= 0.1


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt"])
def test_word_granularity_needs_verbose_json(oai: openai.OpenAI, fmt: str) -> None:
    with CLIP.open("rb") as f, pytest.raises(openai.BadRequestError) as err:
        oai.audio.transcriptions.create(
            file=f,
            model="whisper-1",
            response_format=fmt,  # type: ignore[arg-type]
            timestamp_granularities=["word"],
        )
    assert err.value.status_code == 400
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == "timestamp_granularities"


@pytest.mark.parametrize(
    "granularities", [None, ["segment"], ["word"], ["word", "segment"]], ids=str
)
def test_groq_verbose_json(grq: groq.Groq, granularities: list[str] | None) -> None:
    kwargs: dict[str, Any] = {}
    if granularities is not None:
        kwargs["timestamp_granularities"] = granularities
    with CLIP.open("rb") as f:
        result = grq.audio.transcriptions.create(
            file=f, model="whisper-large-v3-turbo", response_format="verbose_json", **kwargs
        )
    assert isinstance(result, GroqTranscription)
    assert wer(REFERENCE, result.text) <= 0.1
    extra = result.model_extra or {}
    assert extra["x_groq"]["id"].startswith("req_")
    assert ("words" in extra) == (granularities is not None and "word" in granularities)
    assert ("segments" in extra) == (granularities is None or "segment" in granularities)
    for word in extra.get("words", []):
        assert set(word) == {"word", "start", "end"}


@pytest.mark.parametrize("fmt", ["json", "text", "srt", "vtt"])
def test_groq_formats(grq: groq.Groq, fmt: str) -> None:
    with CLIP.open("rb") as f:
        raw = grq.audio.transcriptions.with_raw_response.create(
            file=f,
            model="whisper-large-v3",
            response_format=fmt,  # type: ignore[arg-type]
        )
    parsed = raw.parse()
    text = raw.text() if fmt != "json" else parsed.text
    assert wer(REFERENCE, text if fmt in ("json", "text") else _caption_text(text)) <= 0.1


def _caption_text(body: str) -> str:
    lines = [ln for ln in body.splitlines() if ln and "-->" not in ln and ln != "WEBVTT"]
    return " ".join(ln for ln in lines if not ln.isdigit())


def test_groq_json_with_word_is_400(grq: groq.Groq) -> None:
    with CLIP.open("rb") as f, pytest.raises(groq.BadRequestError) as err:
        grq.audio.transcriptions.create(
            file=f,
            model="whisper-large-v3",
            response_format="json",
            timestamp_granularities=["word"],
        )
    assert err.value.status_code == 400


def test_translation_sdk_types(oai: openai.OpenAI, grq: groq.Groq) -> None:
    with (SAMPLES / "speech_de.mp3").open("rb") as f:
        g = grq.audio.translations.create(
            file=f, model="whisper-large-v3", extra_body={"language": "en"}
        )
    with (SAMPLES / "speech_de.mp3").open("rb") as f:
        o = oai.audio.translations.create(file=f, model="whisper-1", response_format="verbose_json")
    for text in (g.text, o.text):
        assert "good morning" in text.lower()
    assert o.language == "english"
