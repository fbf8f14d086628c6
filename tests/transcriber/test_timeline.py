"""Segments onto the file's timeline: clamped, monotone, numbered (both engines end here)."""

from __future__ import annotations

from transcriber.timeline import clean_segments
from transcriber.types import Segment, Word


def _raw(start: float, end: float, words: list[tuple[float, float]], index: int = 7) -> Segment:
    return Segment(
        id=index, seek=0, start=start, end=end, text=" x", tokens=(1,), temperature=0.0,
        avg_logprob=0.0, compression_ratio=1.0, no_speech_prob=0.0,
        words=tuple(Word(" w", s, e, 0.912345) for s, e in words),
    )  # fmt: skip


def test_times_clamped_and_monotone() -> None:
    raw = [
        _raw(-0.5, 2.0, [(-0.2, 0.5), (0.4, 0.3), (1.0, 2.0)]),
        _raw(1.5, 9.0, [(1.8, 2.5), (2.4, 12.0)]),
    ]
    segments = list(clean_segments(raw, duration=5.0))
    words = [w for s in segments for w in s.words]
    starts = [w.start for w in words]
    ends = [w.end for w in words]
    assert starts == sorted(starts) and ends == sorted(ends)
    assert all(0.0 <= w.start <= w.end <= 5.0 for w in words)
    assert segments[1].start >= segments[0].start and segments[1].end <= 5.0


def test_ids_renumbered_and_probabilities_rounded() -> None:
    segments = list(clean_segments([_raw(0, 1, [(0, 1)]), _raw(1, 2, [])], duration=2.0))
    assert [s.id for s in segments] == [0, 1]
    assert segments[0].words[0].probability == 0.9123
    assert (segments[1].start, segments[1].end) == (1.0, 2.0)  # no words: its own times
