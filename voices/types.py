"""Types that cross the TTS seams."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

Gender = Literal["female", "male"]
Pcm = npt.NDArray[np.float32]


class VoiceError(ValueError):
    """A voice request the catalog cannot satisfy (unknown name, wrong language)."""

    def __init__(self, message: str, valid: list[str]) -> None:
        super().__init__(message)
        self.valid = valid


@dataclass(frozen=True)
class Voice:
    """One catalog entry: an engine voice plus the shaping that makes it a person."""

    name: str
    """Canonical name, e.g. `Fritz-PlayAI`."""
    language: str
    """`en` or `ar`."""
    gender: Gender
    """Documented gender (tested against the measured pitch)."""
    age: str
    """Documented age group."""
    description: str
    """Timbre, pace and accent, in words."""
    engine: str
    """`piper:<id>`, `espeak:<voice>`, or `arabic` (the measured-best Arabic rendering)."""
    f0_hz: float
    """Target median pitch of voiced speech."""
    formant: float
    """Spectral-envelope warp factor (>1: shorter vocal tract)."""
    rate: float
    """Speaking rate relative to the engine voice."""
    aliases: tuple[str, ...]
    """Orpheus and OpenAI names that select this voice."""
    speaker: str | None = None
    """The Kokoro speaker that is this voice (English); `engine` and the shaping above
    are its Piper rendering, used where Kokoro is off or not installed."""
    accent: str | None = None
    """`US` or `UK` for English voices."""


@dataclass(frozen=True)
class SpeechOptions:
    """How to render one request."""

    speed: float = 1.0
    """Multiplies the voice's own rate (0.25..5)."""


@dataclass(frozen=True)
class PcmChunk:
    """Rendered audio for one sentence."""

    samples: Pcm
    """Mono float32 in [-1, 1]."""
    sample_rate: int
    """Samples per second."""

    @property
    def seconds(self) -> float:
        return float(self.samples.shape[0]) / self.sample_rate
