"""What the segmenter reads audio from: a numpy array, or anything sliced like one."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt


class SampleSource(Protocol):
    """Mono 16-kHz samples (float32 in [-1, 1] or int16) read a slice at a time.

    A numpy array is one; so is audio spooled to disk (`audio.media.spool.SpooledSamples`),
    which the segmenter then reads without holding the whole file in memory.
    """

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype[Any]: ...

    def __getitem__(self, index: slice, /) -> npt.NDArray[Any]: ...
