"""The services, built in one place from `Settings`.

The app's lifespan, the CLI and the bench all call `Services.build` (or, for a
command that needs only the model or voice lists, `stt_registry` /
`voice_engines`), so every heavy object is made one way and closed one way.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio.settings import Settings, TtsSettings
from audio.stt_service import SttService
from audio.tts_service import TtsService
from audio.workers import InferencePool
from segmenter.vad import SileroVad
from transcriber.registry import Loader, ModelRegistry
from transcriber.whisper import WhisperModel
from voices.catalog import VoiceCatalog
from voices.registry import VoiceEngines


def stt_registry(settings: Settings, loader: Loader = WhisperModel.load) -> ModelRegistry:
    """The STT model registry of these settings (nothing is loaded yet)."""
    return ModelRegistry(settings.stt.registry_config(), loader=loader)


def voice_engines(settings: TtsSettings) -> VoiceEngines:
    """The TTS engines of these settings (nothing is loaded yet)."""
    return VoiceEngines(settings.engine_config())


@dataclass(frozen=True)
class Services:
    """Everything a request needs, sharing one bounded inference pool."""

    settings: Settings
    """The settings they were built from."""
    pool: InferencePool
    """Worker threads for decode, VAD and synthesis; bounded queue."""
    stt: SttService
    """Transcription and translation."""
    tts: TtsService
    """Speech."""

    @classmethod
    def build(cls, settings: Settings, loader: Loader = WhisperModel.load) -> Services:
        """Build every service; models load on first use (or when warmed)."""
        workers = settings.workers
        pool = InferencePool(workers.workers, workers.queue_size, workers.retry_after_seconds)
        stt = SttService(settings, stt_registry(settings, loader), pool, SileroVad())
        tts = TtsService(VoiceCatalog.load(), voice_engines(settings.tts), pool)
        return cls(settings, pool, stt, tts)

    def close(self) -> None:
        """Let running work finish, then release the models and the batcher threads."""
        self.pool.shutdown()
        self.stt.close()
