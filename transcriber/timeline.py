"""Segments placed on the file's timeline: times clamped to [0, duration], never
decreasing, rounded to milliseconds, ids in order. Both engines end here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

from transcriber.types import Segment, Word


def clean_segments(raw: Iterable[Segment], duration: float) -> Iterator[Segment]:
    """Number the segments and keep their (and their words') times monotone in range."""
    clock = _Clock(duration)
    for index, seg in enumerate(raw):
        seg_start = clock.peek(seg.start)
        words = tuple(clock.span(w) for w in seg.words)
        if words:
            seg_start = min(seg_start, words[0].start)
            seg_end = max(_clamp(seg.end, seg_start, duration), words[-1].end)
        else:
            seg_start, seg_end = clock.advance(seg.start, seg.end)
        yield replace(seg, id=index, start=seg_start, end=seg_end, words=words)


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

    def span(self, word: Word) -> Word:
        start, end = self.advance(word.start, word.end)
        return Word(word.word, start, end, round(word.probability, 4))


def _clamp(value: float, low: float, high: float) -> float:
    return float(min(max(float(value), low), high))
