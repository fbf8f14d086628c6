"""TTS engines behind one small protocol, and the registry that owns them."""

from __future__ import annotations

from typing import Protocol

from voices.types import Pcm


class SentenceEngine(Protocol):
    """Renders one sentence of normalised text as mono float32 PCM."""

    @property
    def sample_rate(self) -> int: ...

    def render(self, sentence: str, rate: float) -> Pcm:
        """`rate` > 1 speaks faster."""
        ...
