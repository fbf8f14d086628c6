"""Piper (neural VITS voices, ONNX) through `piper-tts`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from voices.types import Pcm

MIN_LENGTH_SCALE = 0.2
MAX_LENGTH_SCALE = 4.0
NOISE_W_SCALE = 0.0
"""No random jitter on phoneme durations: the same text always has the same length
(exact WAV sizes, reproducible durations across formats); timbre noise is kept."""


class PiperEngine:
    """One Piper voice model; `espeak_voice` overrides its phonemizer language."""

    def __init__(
        self, model: Path, config: Path, espeak_voice: str | None = None,
        noise_scale: float | None = None,
    ) -> None:  # fmt: skip
        from piper import PiperVoice

        voice = PiperVoice.load(model, config)
        if espeak_voice and espeak_voice != voice.config.espeak_voice:
            voice = PiperVoice(
                config=dataclasses.replace(voice.config, espeak_voice=espeak_voice),
                session=voice.session,
                espeak_data_dir=voice.espeak_data_dir,
                download_dir=voice.download_dir,
            )
        self._voice = voice
        self._noise_scale = noise_scale
        """None: the voice's own; 0 makes renders bit-for-bit reproducible (benchmarks)."""

    @property
    def sample_rate(self) -> int:
        return int(self._voice.config.sample_rate)

    def render(self, sentence: str, rate: float) -> Pcm:
        from piper import SynthesisConfig

        length_scale = min(max(1.0 / rate, MIN_LENGTH_SCALE), MAX_LENGTH_SCALE)
        config = SynthesisConfig(
            length_scale=length_scale, noise_w_scale=NOISE_W_SCALE, noise_scale=self._noise_scale
        )
        chunks = [c.audio_float_array for c in self._voice.synthesize(sentence, syn_config=config)]
        if not chunks:
            return np.zeros(0, np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)
