"""Diarization error rate, as pyannote.metrics defines it, on a 10-ms grid.

DER = (missed speech + false alarm + speaker confusion) / reference speech, with the
hypothesis' labels mapped one-to-one onto the reference's to maximise their shared
time (Hungarian). Overlapped reference speech counts once per speaker. A collar of
`collar` seconds centred on every reference boundary (collar/2 either side, as in
pyannote) is left out of the evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from diarizer.types import SpeakerTurn

STEP = 0.01
"""Grid step, seconds."""


@dataclass(frozen=True)
class DerParts:
    """The parts of one file's diarization error, in seconds."""

    reference: float
    """Reference speech (overlap counted per speaker)."""
    missed: float
    """Reference speech with no hypothesis speaker."""
    false_alarm: float
    """Hypothesis speech where the reference has none (or fewer speakers)."""
    confusion: float
    """Speech attributed to the wrong speaker."""

    @property
    def der(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / max(self.reference, 1e-9)


def _grid(turns: Sequence[SpeakerTurn], names: list[str], frames: int) -> npt.NDArray[np.bool_]:
    grid = np.zeros((len(names), frames), bool)
    for turn in turns:
        grid[names.index(turn.speaker), round(turn.start / STEP) : round(turn.end / STEP)] = True
    return grid


def der_parts(
    reference: Sequence[SpeakerTurn],
    hypothesis: Sequence[SpeakerTurn],
    collar: float = 0.25,
    skip_overlap: bool = False,
) -> DerParts:
    """The error parts of `hypothesis` against `reference` (see the module docstring);
    `skip_overlap` leaves out where the reference has two or more speakers at once (as
    pyannote.metrics' `skip_overlap`)."""
    end = max([t.end for t in reference] + [t.end for t in hypothesis] + [0.0])
    frames = round(end / STEP) + 1
    ref_names = sorted({t.speaker for t in reference})
    hyp_names = sorted({t.speaker for t in hypothesis})
    ref = _grid(reference, ref_names, frames)
    hyp = _grid(hypothesis, hyp_names, frames)
    scored = np.ones(frames, bool)
    half = round(collar / 2 / STEP)
    for turn in reference:
        for edge in (turn.start, turn.end):
            centre = round(edge / STEP)
            scored[max(0, centre - half) : centre + half] = False
    if skip_overlap:
        scored &= ref.sum(axis=0) <= 1
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    correct = 0.0
    if ref_names and hyp_names:
        shared = ref.astype(np.int64) @ hyp.T.astype(np.int64)
        rows, cols = linear_sum_assignment(-shared)
        correct = float(shared[rows, cols].sum())
    return DerParts(
        reference=float(n_ref.sum()) * STEP,
        missed=float(np.maximum(n_ref - n_hyp, 0).sum()) * STEP,
        false_alarm=float(np.maximum(n_hyp - n_ref, 0).sum()) * STEP,
        confusion=(float(np.minimum(n_ref, n_hyp).sum()) - correct) * STEP,
    )
