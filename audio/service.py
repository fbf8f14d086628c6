"""The STT service: decode -> model -> engine, run in the bounded pool.

Framework-free; the routes call it with validated requests.
"""

from __future__ import annotations

from typing import BinaryIO

from audio.decode import decode_audio
from audio.registry import ModelRegistry, Resolved
from audio.settings import Settings
from audio.stt import WhisperEngine
from audio.types import SttOptions, Transcript
from audio.workers import InferencePool


class SttService:
    def __init__(self, settings: Settings, registry: ModelRegistry, pool: InferencePool) -> None:
        self.settings = settings
        self.registry = registry
        self.pool = pool

    def resolve(self, model_id: str) -> Resolved:
        """Pick the serving model now, so 404/503 come before any work."""
        return self.registry.resolve(model_id)

    def transcribe_now(
        self, media: BinaryIO | str, model_id: str, options: SttOptions
    ) -> Transcript:
        """Blocking: decode, load (once) and transcribe. Call from a worker thread."""
        samples = decode_audio(media, max_seconds=self.settings.limits.max_duration_seconds)
        model = self.registry.get(model_id)
        return WhisperEngine(model).transcribe(samples, options)

    async def transcribe(
        self, media: BinaryIO | str, resolved: Resolved, options: SttOptions
    ) -> Transcript:
        """Run a transcription in the pool; Overloaded (503) when the queue is full."""
        return await self.pool.run(lambda: self.transcribe_now(media, resolved.served, options))
