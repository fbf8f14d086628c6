"""PCM facts, written once: the rate every speech-to-text room speaks, and int16 scaling."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
"""Whisper's and Silero VAD's input rate: every decoded upload is resampled to this."""
INT16_SCALE = 32768.0
"""int16 full scale: int16 samples divided by this lie in [-1, 1)."""
INT16_MAX = 32767
"""Largest int16 sample; float PCM in [-1, 1] times this is symmetric int16 output."""

Float32Pcm = npt.NDArray[np.float32]
"""Mono float32 samples in [-1, 1]."""


def to_float32(samples: npt.NDArray[Any]) -> Float32Pcm:
    """int16 samples to float32 in [-1, 1); float input is returned as float32 unchanged."""
    if samples.dtype == np.int16:
        return (samples.astype(np.float32) / INT16_SCALE).astype(np.float32)
    return samples.astype(np.float32, copy=False)


def to_int16(samples: Float32Pcm) -> npt.NDArray[np.int16]:
    """float PCM to little-endian int16 (clipped, rounded, symmetric scale)."""
    return (np.clip(samples, -1.0, 1.0) * INT16_MAX).round().astype("<i2")
