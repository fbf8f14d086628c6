"""Render a Transcript in the contract's response formats (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from audio.languages import language_name
from transcriber.types import Segment, Transcript

TRANSCRIPT_MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "verbose_json": "application/json",
    "srt": "text/plain; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}
"""Each transcript response format and its Content-Type."""
RESPONSE_FORMATS: tuple[str, ...] = tuple(TRANSCRIPT_MEDIA_TYPES)
TIMED_FORMATS = frozenset({"verbose_json", "srt", "vtt"})
"""Formats that show segment times (json and text skip the work that finds them)."""
GRANULARITIES = ("segment", "word")
"""`timestamp_granularities[]` values."""


def needs_segment_times(response_format: str) -> bool:
    return response_format in TIMED_FORMATS


@dataclass(frozen=True)
class Rendered:
    """A response body: a JSON object or text, with its media type."""

    media_type: str
    """Content-Type header value."""
    json: dict[str, Any] | None = None
    """Body for json formats."""
    text: str | None = None
    """Body for text formats."""


def render(
    transcript: Transcript,
    response_format: str,
    granularities: frozenset[str],
    request_id: str,
) -> Rendered:
    media = TRANSCRIPT_MEDIA_TYPES[response_format]
    if response_format == "json":
        return Rendered(media, json=_json(transcript, request_id))
    if response_format == "verbose_json":
        return Rendered(media, json=verbose_json(transcript, granularities, request_id))
    if response_format == "text":
        return Rendered(media, text=transcript.text + "\n")
    if response_format == "srt":
        return Rendered(media, text=srt(transcript.segments))
    return Rendered(media, text=vtt(transcript.segments))


def _json(transcript: Transcript, request_id: str) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "usage": {"type": "duration", "seconds": round(transcript.duration, 3)},
        "x_groq": {"id": request_id},
    }


def verbose_json(
    transcript: Transcript, granularities: frozenset[str], request_id: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": transcript.task,
        "language": "english"
        if transcript.task == "translate"
        else language_name(transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [segment_json(s) for s in transcript.segments]
    if "word" in granularities:
        body["words"] = [
            {"word": w.word.strip(), "start": w.start, "end": w.end} for w in transcript.words
        ]
    body["x_groq"] = {"id": request_id}
    return body


def segment_json(seg: Segment) -> dict[str, Any]:
    return {
        "id": seg.id,
        "seek": seg.seek,
        "start": seg.start,
        "end": seg.end,
        "text": seg.text,
        "tokens": list(seg.tokens),
        "temperature": seg.temperature,
        "avg_logprob": seg.avg_logprob,
        "compression_ratio": seg.compression_ratio,
        "no_speech_prob": seg.no_speech_prob,
    }


def _timestamp(seconds: float, decimal: str) -> str:
    ms = max(0, round(seconds * 1000))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{ms:03d}"


def srt(segments: tuple[Segment, ...]) -> str:
    blocks = [
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{s.text.strip()}\n"
        for i, s in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def vtt(segments: tuple[Segment, ...]) -> str:
    blocks = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{s.text.strip()}\n"
        for s in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
