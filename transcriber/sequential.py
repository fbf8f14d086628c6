"""Sequential long-form: faster-whisper's own sliding window, each 30-s window
conditioned on the text before it."""

from __future__ import annotations

import threading

import numpy as np

from common.pcm import SAMPLE_RATE, to_float32
from segmenter.source import SampleSource
from transcriber.timeline import clean_segments
from transcriber.types import SttOptions, Transcript, TranscriptStream
from transcriber.whisper import WhisperModel

TEMPERATURE_LADDER = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
"""Whisper's fallback temperatures when decoding at 0 fails its checks."""


class SequentialEngine:
    """An `SttEngine` over one model's sliding window."""

    def __init__(self, model: WhisperModel) -> None:
        self._model = model

    def stream(
        self, audio: SampleSource, options: SttOptions, cancel: threading.Event | None = None,
        incremental: bool = False,
    ) -> TranscriptStream:  # fmt: skip
        """Start decoding (faster-whisper decides the language first). Sequential decoding
        has no separate first window, so `incremental` changes nothing; `cancel` is
        checked by the caller between segments."""
        samples = to_float32(np.asarray(audio[:]))
        temperatures = TEMPERATURE_LADDER if options.temperature == 0 else (options.temperature,)
        language, raw = self._model.transcribe(samples, options, temperatures)
        duration = samples.shape[0] / SAMPLE_RATE
        return TranscriptStream(
            task=options.task,
            language=language,
            duration=duration,
            segments=clean_segments(raw, duration),
        )

    def transcribe(self, audio: SampleSource, options: SttOptions) -> Transcript:
        return self.stream(audio, options).collect()
