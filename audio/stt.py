"""Speech-to-text engine over a faster-whisper model (no HTTP here)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from audio.constants import SAMPLE_RATE
from audio.types import Samples, Segment, SttOptions, Task, Transcript, Word

TEMPERATURE_LADDER = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""Whisper's fallback temperatures when decoding at 0 fails its checks."""


@dataclass(frozen=True)
class TranscriptStream:
    """A transcription under way: header facts now, segments as decoded."""

    task: Task
    """`transcribe` or `translate`."""
    language: str
    """Detected or given language code."""
    duration: float
    """Input length, seconds."""
    segments: Iterator[Segment]
    """Segments in time order, times clamped to [0, duration] and never decreasing."""

    def collect(self) -> Transcript:
        return Transcript(
            task=self.task,
            language=self.language,
            duration=self.duration,
            segments=tuple(self.segments),
        )


class WhisperEngine:
    """Runs one faster-whisper model; thread-safe per faster-whisper's contract."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def stream(self, audio: Samples, options: SttOptions) -> TranscriptStream:
        temperature: tuple[float, ...] = (
            TEMPERATURE_LADDER if options.temperature == 0 else (options.temperature,)
        )
        raw_segments, info = self._model.transcribe(
            audio,
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            temperature=list(temperature),
            initial_prompt=options.prompt or None,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
        )
        duration = audio.shape[0] / SAMPLE_RATE
        return TranscriptStream(
            task=options.task,
            language=info.language,
            duration=duration,
            segments=clean_segments(raw_segments, duration),
        )

    def transcribe(self, audio: Samples, options: SttOptions) -> Transcript:
        return self.stream(audio, options).collect()


def clean_segments(raw_segments: Any, duration: float) -> Iterator[Segment]:
    """Convert faster-whisper segments; times clamped to [0, duration], never decreasing."""
    clock = _Clock(duration)
    for index, seg in enumerate(raw_segments):
        seg_start = clock.peek(seg.start)
        words = tuple(
            clock.span(str(w.word), w.start, w.end, w.probability) for w in seg.words or ()
        )
        if words:
            seg_start = min(seg_start, words[0].start)
            seg_end = max(_clamp(seg.end, seg_start, duration), words[-1].end)
        else:
            seg_start, seg_end = clock.advance(seg.start, seg.end)
        yield Segment(
            id=index,
            seek=int(seg.seek),
            start=seg_start,
            end=seg_end,
            text=str(seg.text),
            tokens=tuple(int(t) for t in seg.tokens),
            temperature=float(seg.temperature or 0.0),
            avg_logprob=float(seg.avg_logprob),
            compression_ratio=float(seg.compression_ratio),
            no_speech_prob=float(seg.no_speech_prob),
            words=words,
        )


class _Clock:
    """Keeps starts and ends monotone within [0, duration], rounded to ms."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.start = 0.0
        self.end = 0.0

    def peek(self, start: float) -> float:
        return round(_clamp(start, self.start, self.duration), 3)

    def advance(self, start: float, end: float) -> tuple[float, float]:
        self.start = self.peek(start)
        self.end = round(_clamp(end, max(self.start, self.end), self.duration), 3)
        return self.start, self.end

    def span(self, word: str, start: float, end: float, probability: float) -> Word:
        s, e = self.advance(start, end)
        return Word(word=word, start=s, end=e, probability=round(float(probability), 4))


def _clamp(value: float, low: float, high: float) -> float:
    return float(min(max(float(value), low), high))
