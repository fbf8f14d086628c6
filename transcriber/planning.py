"""A request's plan: which VAD windows to decode, and in what order they become known.

Streaming (`incremental`) settles a short first window from as few VAD blocks as it
takes, so it is decoded while the VAD runs over the rest of the file."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from segmenter.source import SampleSource
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import Window, first_window, segment, windows_after

FIRST_WINDOW_SECONDS = 5.0
"""Streaming: the first window's length cap (its text is the first delta)."""

TailPlan = Iterator[list[Window] | None]
"""The rest of a request's plan: None after each VAD block, then its windows."""


def plan(
    vad: SileroVad, audio: SampleSource, options: VadOptions, incremental: bool
) -> tuple[list[Window], TailPlan]:
    """The windows to decode first, and the lazy plan of the others."""
    blocks = vad.probability_blocks(audio)
    seen: list[npt.NDArray[np.float32]] = []
    first = None
    if incremental:
        for block in blocks:
            seen.append(block)
            first = first_window(audio, np.concatenate(seen), options, FIRST_WINDOW_SECONDS)
            if first is not None:
                break
        else:  # the whole file is seen: its first window is settled, if it has one
            probs = np.concatenate(seen) if seen else np.zeros(0, np.float32)
            first = first_window(audio, probs, options, FIRST_WINDOW_SECONDS, complete=True)
    return ([first] if first else []), _rest(audio, options, blocks, seen, first)


def _rest(
    audio: SampleSource, options: VadOptions, blocks: Iterator[npt.NDArray[np.float32]],
    seen: list[npt.NDArray[np.float32]], first: Window | None,
) -> TailPlan:  # fmt: skip
    """Yields None after each remaining VAD block, then the windows: the file's (no
    first window), or those after the first window."""
    for block in blocks:
        seen.append(block)
        yield None
    probs = np.concatenate(seen) if seen else np.zeros(0, np.float32)
    if first is None:
        yield segment(audio, probs, options)
    else:
        yield windows_after(audio, probs, options, first.spans[-1][1])
