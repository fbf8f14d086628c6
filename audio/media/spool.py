"""Decoded audio kept on disk: long files are not held in memory while they decode.

The chunked engine reads a long file a VAD block or a window at a time, so its
int16 samples go to an unlinked temporary file and are read back with `pread`
(the pages stay in the OS cache, never in the process). Short audio stays in an
in-memory int16 array.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import numpy.typing as npt

SPOOL_AFTER_SECONDS = 120.0
"""Decoded audio longer than this is spooled to disk."""
INT16_BYTES = 2


class SpooledSamples:
    """int16 samples in a temporary file, sliced like an array (a `SampleSource`)."""

    def __init__(self, directory: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 (lives with self)
        self._size = 0

    def append(self, samples: npt.NDArray[np.int16]) -> None:
        self._file.write(np.ascontiguousarray(samples, np.int16).tobytes())
        self._size += samples.shape[0]

    def finish(self) -> SpooledSamples:
        self._file.flush()
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return (self._size,)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.int16)

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: slice, /) -> npt.NDArray[np.int16]:
        start, stop, step = index.indices(self._size)
        if step != 1:
            raise ValueError("spooled samples are read in contiguous slices")
        count = max(0, stop - start)
        data = os.pread(self._file.fileno(), count * INT16_BYTES, start * INT16_BYTES)
        return np.frombuffer(data, np.int16)

    def close(self) -> None:
        self._file.close()

    def __del__(self) -> None:
        self._file.close()
