"""The join of speaker turns with a transcript: each word goes to the speaker whose
turn covers most of it (of two that cover it alike, where turns overlap, the one whose
turn began later), and a segment is cut wherever the speaker changes, so no segment
straddles two speakers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from diarizer.types import SpeakerTurn
from transcriber.types import Segment, Word

UNKNOWN_SPEAKER = "A"
"""The label of speech no turn covers when the diarization found no speech at all."""


@dataclass(frozen=True)
class SpeakerSegment:
    """A transcript segment spoken by one speaker."""

    segment: Segment
    """The transcript's segment, or the part of it one speaker said (its own times, text
    and words; `tokens` empty where a segment was cut)."""
    speaker: str
    """The speaker's label."""


def speaker_at(start: float, end: float, turns: Sequence[SpeakerTurn]) -> str:
    """The speaker whose turns overlap [start, end] most (to the millisecond; on a tie,
    whose overlapping turn began later: someone heard over a longer turn keeps the words
    said over it); the nearest turn's if none does."""
    if not turns:
        return UNKNOWN_SPEAKER
    overlap: dict[str, float] = {}
    latest: dict[str, float] = {}
    for turn in turns:
        shared = min(end, turn.end) - max(start, turn.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
            latest[turn.speaker] = max(latest.get(turn.speaker, turn.start), turn.start)
    if overlap:
        return max(overlap, key=lambda name: (round(overlap[name], 3), latest[name]))
    middle = (start + end) / 2
    nearest = min(turns, key=lambda t: min(abs(middle - t.start), abs(middle - t.end)))
    return nearest.speaker


def _piece(segment: Segment, words: list[Word], whole: bool) -> Segment:
    if whole:
        return segment
    return replace(
        segment, start=words[0].start, end=words[-1].end,
        text="".join(w.word for w in words), tokens=(), words=tuple(words),
    )  # fmt: skip


def attribute(segments: Sequence[Segment], turns: Sequence[SpeakerTurn]) -> list[SpeakerSegment]:
    """Segments cut at each change of speaker, each with its speaker, numbered anew."""
    out: list[SpeakerSegment] = []
    for segment in segments:
        if not segment.words:
            out.append(SpeakerSegment(segment, speaker_at(segment.start, segment.end, turns)))
            continue
        runs: list[tuple[str, list[Word]]] = []
        for word in segment.words:
            speaker = speaker_at(word.start, word.end, turns)
            if runs and runs[-1][0] == speaker:
                runs[-1][1].append(word)
            else:
                runs.append((speaker, [word]))
        for speaker, words in runs:
            out.append(SpeakerSegment(_piece(segment, words, len(runs) == 1), speaker))
    return [
        SpeakerSegment(replace(piece.segment, id=i), piece.speaker) for i, piece in enumerate(out)
    ]
