"""Render a Transcript in the contract's response formats (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diarizer.join import SpeakerSegment
from transcriber.languages import language_name
from transcriber.types import Segment, Transcript

SPEAKER_FORMATS = frozenset({"diarized_json", "verbose_json", "srt", "vtt"})
"""Formats that show speakers (diarized_json always; the others with `diarize=true`)."""

TRANSCRIPT_MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
    "verbose_json": "application/json",
    "srt": "text/plain; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
    "diarized_json": "application/json",
}
"""Each transcript response format and its Content-Type."""
RESPONSE_FORMATS: tuple[str, ...] = tuple(TRANSCRIPT_MEDIA_TYPES)
TIMED_FORMATS = frozenset({"verbose_json", "srt", "vtt", "diarized_json"})
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
    speakers: tuple[SpeakerSegment, ...] | None = None,
) -> Rendered:
    """The body of `transcript` in `response_format`; with `speakers` (a diarized
    request), segments are the speaker segments and carry their speaker."""
    media = TRANSCRIPT_MEDIA_TYPES[response_format]
    if response_format == "diarized_json":
        return Rendered(media, json=diarized_json(transcript, speakers or ()))
    if response_format == "json":
        return Rendered(media, json=_json(transcript, request_id))
    if response_format == "verbose_json":
        return Rendered(media, json=verbose_json(transcript, granularities, request_id, speakers))
    if response_format == "text":
        return Rendered(media, text=transcript.text + "\n")
    labelled = _labelled(transcript, speakers)
    if response_format == "srt":
        return Rendered(media, text=srt(labelled))
    return Rendered(media, text=vtt(labelled))


Labelled = tuple[tuple[Segment, str | None], ...]


def _labelled(transcript: Transcript, speakers: tuple[SpeakerSegment, ...] | None) -> Labelled:
    if speakers is None:
        return tuple((s, None) for s in transcript.segments)
    return tuple((s.segment, s.speaker) for s in speakers)


def usage(transcript: Transcript) -> dict[str, Any]:
    return {"type": "duration", "seconds": round(transcript.duration, 3)}


def diarized_segment(piece: SpeakerSegment) -> dict[str, Any]:
    """One `transcript.text.segment` (the body of diarized_json and its SSE event)."""
    seg = piece.segment
    return {
        "type": "transcript.text.segment",
        "id": f"seg_{seg.id}",
        "start": seg.start,
        "end": seg.end,
        "text": seg.text.strip(),
        "speaker": piece.speaker,
    }


def diarized_json(transcript: Transcript, speakers: tuple[SpeakerSegment, ...]) -> dict[str, Any]:
    """OpenAI's `TranscriptionDiarized`."""
    return {
        "task": "transcribe",
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [diarized_segment(piece) for piece in speakers],
        "usage": usage(transcript),
    }


def _json(transcript: Transcript, request_id: str) -> dict[str, Any]:
    return {
        "text": transcript.text,
        "usage": usage(transcript),
        "x_groq": {"id": request_id},
    }


def verbose_json(
    transcript: Transcript, granularities: frozenset[str], request_id: str,
    speakers: tuple[SpeakerSegment, ...] | None = None,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {
        "task": transcript.task,
        "language": "english"
        if transcript.task == "translate"
        else language_name(transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if "segment" in granularities or not granularities:
        body["segments"] = [
            segment_json(seg) if speaker is None else {**segment_json(seg), "speaker": speaker}
            for seg, speaker in _labelled(transcript, speakers)
        ]
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


def _cue_text(seg: Segment, speaker: str | None, vtt_voice: bool) -> str:
    text = seg.text.strip()
    if speaker is None:
        return text
    return f"<v {speaker}>{text}" if vtt_voice else f"[{speaker}] {text}"


def srt(segments: Labelled) -> str:
    """SubRip cues; a speaker as `[A] text`."""
    blocks = [
        f"{i}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n"
        f"{_cue_text(s, speaker, False)}\n"
        for i, (s, speaker) in enumerate(segments, start=1)
    ]
    return "\n".join(blocks)


def vtt(segments: Labelled) -> str:
    """WebVTT cues; a speaker as a voice span, `<v A>text`."""
    blocks = [
        f"{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{_cue_text(s, speaker, True)}\n"
        for s, speaker in segments
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)
