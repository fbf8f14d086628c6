"""The wiring: every service, and everything the app holds, built in one place from
`Settings` and closed one way.

The app's lifespan builds a `Runtime` (the services, the keys and their projects, the
rate limiter, the realtime hub, the metrics, the job store and its runner); the CLI
and the bench call `Services.build` (or, for a command that needs only the model or
voice lists, `stt_registry` / `voice_engines`); a Ray actor calls `worker_stack`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Any

from threadpoolctl import threadpool_limits

from audio.batch.executor import Executor, choose
from audio.media.encode import resample
from audio.ops.keys import ApiKeys
from audio.ops.metrics import Metrics
from audio.ops.ratelimit import Quotas, RateLimiter
from audio.services.diarize import DiarizeService
from audio.services.pool import InferencePool
from audio.services.realtime import RealtimeHub
from audio.services.request import warmup_options
from audio.services.stt import SttService
from audio.services.tts import TtsService
from audio.settings import Budgets, Settings, SettingsProblem, TtsSettings
from common.pcm import SAMPLE_RATE
from jobs.errors import FilesDirNotShared
from jobs.runner import BatchRunner
from jobs.store import JobStore
from segmenter.vad import SileroVad
from transcriber.errors import TranscriberError
from transcriber.registry import Loader, ModelRegistry
from transcriber.types import ALGORITHMS
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
    """The STT model registry of these settings (nothing is loaded yet), with the
    operator's aliases that name an STT model."""
    config = settings.stt.registry_config()
    known = {*config.models, *config.aliases}
    operator = {alias: config.aliases.get(target, target)
                for alias, target in settings.model_aliases.items() if target in known}  # fmt: skip
    config = replace(config, aliases={**config.aliases, **operator})
    return ModelRegistry(config, loader=loader)


def voice_engines(settings: TtsSettings) -> VoiceEngines:
    """The TTS engines of these settings (nothing is loaded yet)."""
    return VoiceEngines(settings.engine_config())


def batch_store(settings: Settings) -> JobStore:
    """The job store: its database (SQLite under the batch data directory unless a URL is
    set) and the files directory."""
    batch = settings.batch
    url = batch.database_url or f"sqlite:///{batch.data_dir / 'jobs.sqlite3'}"
    try:
        return JobStore(
            url, batch.files_dir or batch.data_dir / "files", batch.retention_seconds,
            batch.legacy_project, batch.lease_seconds,
        )  # fmt: skip
    except FilesDirNotShared as exc:
        raise SettingsProblem(f"SPEECH_BATCH__FILES_DIR: {exc}") from None


def batch_executor(
    services: Services, store: JobStore, address: str | None, workers: int | None,
    local_workers: int,
) -> Executor:  # fmt: skip
    """Where batch work runs (the server's lines, the `batch` command's files)."""
    return choose(services.settings, services.stt, services.diarize, store, worker_stack,
                  address, workers, local_workers)  # fmt: skip


def batch_jobs(services: Services) -> tuple[JobStore, BatchRunner]:
    """The job store and the runner (not started): lines decoded in this process, or on
    the Ray cluster at `SPEECH_BATCH__RAY_ADDRESS` (one actor per CPU it offers, unless
    `SPEECH_BATCH__WORKERS` says otherwise)."""
    batch = services.settings.batch
    store = batch_store(services.settings)
    given = batch.workers if "workers" in batch.model_fields_set else None
    executor = batch_executor(services, store, batch.ray_address, given, batch.workers)
    return store, BatchRunner(store, executor.lines, executor.workers,
                              replica=batch.replica)  # fmt: skip


@dataclass(frozen=True)
class WorkerStack:
    """What one Ray actor builds once: the STT stack and the job store."""

    services: Services
    """Sized to the actor's one CPU."""
    store: JobStore
    """The same store as the server's (files a line names by id)."""

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def stt(self) -> SttService:
        return self.services.stt

    @property
    def diarize(self) -> DiarizeService:
        return self.services.diarize


def worker_stack(settings: Settings) -> WorkerStack:
    """An actor's stack. It holds one of the cluster's CPUs and runs batch work only: one
    decoder of one thread, no all-core replica (actors on one node would each take every
    core for their encoder), nothing of its own to yield the cores to."""
    stt = settings.stt.model_copy(update={"decoders": 1, "solo_threads": 1, "background_nice": 0})
    sized = settings.model_copy(update={"stt": stt})
    return WorkerStack(Services.build(sized), batch_store(sized))


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
        catalog = VoiceCatalog.load()
        catalog.add_aliases(settings.model_aliases)
        tts = TtsService(catalog, voice_engines(settings.tts), pool)
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
        engines = self.tts.engines
        for voice in self.tts.catalog.voices:
            chosen, _shaped = engines.engine_for(voice)
            engine = engines.resolve(chosen)
            if not engines.installed(chosen):
                continue
            engines.get(chosen)  # every speaker's engine made now (Kokoro's share a session)
            library = "kokoro" if engine.startswith("kokoro:") else engine
            if library in seen:
                continue  # one render per library warms it
            seen.add(library)
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
                options = warmup_options(algorithm)
                self.stt.engine(served, algorithm).stream(speech, options).collect()
        log.info("warmed %d voice engine(s) and %s in %.1fs", len(seen), served,
                 time.monotonic() - started)  # fmt: skip

    def close(self) -> None:
        """Let running work finish, then release the models and the batcher threads."""
        self.pool.shutdown()
        self.stt.close()
        self.diarize.close()


@dataclass(frozen=True)
class Runtime:
    """Everything the app holds while it serves, built in its lifespan and closed with it."""

    settings: Settings
    """The settings everything was built from."""
    services: Services
    """The models, voices and the inference pool."""
    keys: ApiKeys
    """Accepted keys and their projects (re-read on SIGHUP)."""
    limiter: RateLimiter
    """Every project's budgets."""
    realtime: RealtimeHub
    """The open realtime sessions."""
    metrics: Metrics
    """This app's Prometheus registry."""
    jobs: JobStore
    """Files and batches."""
    batch_runner: BatchRunner
    """Runs the batches (started by `start`)."""

    @classmethod
    def build(cls, settings: Settings, loader: Loader = WhisperModel.load) -> Runtime:
        services = Services.build(settings, loader)
        keys = ApiKeys(settings.api_keys, settings.api_keys_file)
        limits = settings.realtime
        hub = RealtimeHub(limits.max_sessions, limits.max_sessions_per_project)
        jobs, runner = batch_jobs(services)
        return cls(settings, services, keys, rate_limiter(settings, keys), hub,
                   Metrics(services), jobs, runner)  # fmt: skip

    def state(self) -> dict[str, Any]:
        """What the routes reach through `app.state`, by name."""
        services = self.services
        return {
            "settings": self.settings, "keys": self.keys, "limiter": self.limiter,
            "realtime": self.realtime, "metrics": self.metrics, "jobs": self.jobs,
            "batch_runner": self.batch_runner, "stt": services.stt, "tts": services.tts,
            "diarize": services.diarize,
        }  # fmt: skip

    def close(self) -> None:
        """Stop the runner after its lines in flight, then close the store and services."""
        self.batch_runner.stop()
        self.jobs.close()
        self.services.close()
