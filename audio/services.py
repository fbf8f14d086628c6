"""The services, built in one place from `Settings`.

The app's lifespan, the CLI and the bench all call `Services.build` (or, for a
command that needs only the model or voice lists, `stt_registry` /
`voice_engines`), so every heavy object is made one way and closed one way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from threadpoolctl import threadpool_limits

from audio.batch_service import BatchLines
from audio.diarize_service import DiarizeService
from audio.encode import resample
from audio.keys import ApiKeys
from audio.ratelimit import Quotas, RateLimiter
from audio.settings import Budgets, Settings, TtsSettings
from audio.stt_service import SttService
from audio.tts_service import TtsService
from audio.workers import InferencePool
from common.pcm import SAMPLE_RATE
from jobs.runner import BatchRunner
from jobs.store import JobStore
from segmenter.vad import SileroVad
from transcriber.errors import TranscriberError
from transcriber.registry import Loader, ModelRegistry
from transcriber.types import ALGORITHMS, SttOptions
from transcriber.whisper import WhisperModel
from voices.catalog import VoiceCatalog
from voices.registry import VoiceEngines
from voices.types import PcmChunk, SpeechOptions

log = logging.getLogger(__name__)

BLAS_THREADS = 1
"""numpy's BLAS threads once services are built (process-wide). Its matrices here are small
(log-mel filters, speaker embeddings), and OpenBLAS's idle threads spin, taking a core
from CTranslate2: with two, the all-core replica encoded a clip in the server in 0.14 s,
as slowly as one thread, and with one in 0.09 s (BENCHMARKS.md, `bench latency`); a
10-minute diarized transcription took 1.35x its plain time with two, 1.16x with one."""


def blas_limit() -> Any:
    """Hold numpy's BLAS to BLAS_THREADS, process-wide: until the end of the returned
    limiter's `with` block, or for the rest of the process. Services set it for the rest
    of the process: threadpoolctl lets only the thread that set a limit change it again,
    and the app closes its services from another thread than the one that built them."""
    return threadpool_limits(BLAS_THREADS, user_api="blas")


WARMUP_TEXT = {
    "en": "Ready to listen. This sentence warms the voice with the length of a typical reply.",
    "ar": "مرحبا بكم. هذه الجملة تهيئ الصوت بطول رد عادي.",
}
"""What each language's voices say once at startup (the English the STT model hears):
a short sentence and a typical one, so the first request allocates nothing new."""


def _quotas(budgets: Budgets) -> Quotas:
    return Quotas.parse(
        requests=budgets.requests,
        audio_seconds=budgets.audio_seconds,
        characters=budgets.characters,
    )


def rate_limiter(settings: Settings, keys: ApiKeys) -> RateLimiter:
    """The rate limits of these settings (in memory or in Redis), per project: a
    `per_key` entry gives its key's project those budgets."""
    limits = settings.rate_limits
    per_project = {
        project: _quotas(own)
        for digest, own in limits.per_key.items()
        if (project := keys.project_of_digest(digest)) is not None
    }
    per_project.update({name: _quotas(own) for name, own in limits.per_project.items()})
    return RateLimiter(_quotas(limits), per_project, limits.storage_uri)


def stt_registry(settings: Settings, loader: Loader = WhisperModel.load) -> ModelRegistry:
    """The STT model registry of these settings (nothing is loaded yet)."""
    return ModelRegistry(settings.stt.registry_config(), loader=loader)


def voice_engines(settings: TtsSettings) -> VoiceEngines:
    """The TTS engines of these settings (nothing is loaded yet)."""
    return VoiceEngines(settings.engine_config())


def batch_store(settings: Settings) -> JobStore:
    """The job store: SQLite and the stored files under the batch data directory."""
    data = settings.batch.data_dir
    return JobStore(
        data / "jobs.sqlite3", data / "files", settings.batch.retention_seconds,
        settings.batch.legacy_project,
    )  # fmt: skip


def batch_jobs(
    settings: Settings, stt: SttService, diarize: DiarizeService
) -> tuple[JobStore, BatchRunner]:
    """The job store and the runner (not started): lines decoded in this process, or on
    the Ray cluster at `SPEECH_BATCH__RAY_ADDRESS` (one actor per CPU it offers, unless
    `SPEECH_BATCH__WORKERS` says otherwise)."""
    store = batch_store(settings)
    if settings.batch.ray_address:
        from audio.ray_batch import ActorPool, RayLines, connect

        cpus = connect(settings.batch.ray_address)
        actors = settings.batch.workers if "workers" in settings.batch.model_fields_set else cpus
        pool = ActorPool(settings, actors)
        return store, BatchRunner(store, RayLines(pool), actors)
    return store, BatchRunner(
        store, BatchLines(settings, stt, store, diarize), settings.batch.workers
    )


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
    diarize: DiarizeService
    """Who spoke when, beside a transcription."""

    @classmethod
    def build(cls, settings: Settings, loader: Loader = WhisperModel.load) -> Services:
        """Build every service; models load on first use (or when warmed)."""
        blas_limit()
        workers = settings.workers
        pool = InferencePool(workers.workers, workers.queue_size, workers.retry_after_seconds)
        stt = SttService(settings, stt_registry(settings, loader), pool, SileroVad())
        tts = TtsService(VoiceCatalog.load(), voice_engines(settings.tts), pool)
        return cls(settings, pool, stt, tts, DiarizeService(settings, stt))

    def warm(self) -> None:
        """Load every voice engine and the default STT model, and run each once (blocking).

        The speech rendered for the English voices is what the STT engines decode, so
        both rooms run end to end. A model whose weights are absent is skipped with a
        warning; it answers 503 when asked for, as without warm-up.
        """
        started = time.monotonic()
        heard: list[PcmChunk] = []
        seen: set[str] = set()
        for voice in self.tts.catalog.voices:
            engine = self.tts.engines.resolve(voice.engine)
            if engine in seen or not self.tts.engines.installed(voice.engine):
                continue
            seen.add(engine)
            text = WARMUP_TEXT.get(voice.language, WARMUP_TEXT["en"])
            chunks = list(self.tts.synthesizer.stream(text, voice, SpeechOptions()))
            if voice.language == "en":
                heard += chunks
        model_id = self.settings.stt.default_model
        try:
            served = self.stt.resolve(model_id).served
        except TranscriberError as exc:
            log.warning("warm-up skips the STT model %s: %s", model_id, exc)
            served = None
        if served is not None and heard:
            speech = resample(heard[0].samples, heard[0].sample_rate, SAMPLE_RATE)
            for algorithm in ALGORITHMS:
                options = SttOptions(language="en", algorithm=algorithm, segment_timestamps=False)
                self.stt.engine(served, algorithm).stream(speech, options).collect()
        log.info("warmed %d voice engine(s) and %s in %.1fs", len(seen), served,
                 time.monotonic() - started)  # fmt: skip

    def close(self) -> None:
        """Let running work finish, then release the models and the batcher threads."""
        self.pool.shutdown()
        self.stt.close()
        self.diarize.close()
