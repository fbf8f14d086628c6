"""The FastAPI app factory and its lifespan (which owns every heavy object)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator

from fastapi import FastAPI

from audio import __version__
from audio.api import (
    batches,
    health,
    models,
    openapi,
    playground,
    realtime,
    speech,
    transcriptions,
)
from audio.api.errors import install_error_handlers
from audio.api.middleware import (
    MetricsMiddleware,
    RequestContextMiddleware,
    hide_keys_in_server_logs,
)
from audio.ops import heap
from audio.ops.keys import ApiKeys
from audio.settings import Settings
from audio.wiring import Runtime, Services
from audio.wyoming.server import WyomingServer
from jobs.store import JobStore
from transcriber.registry import Loader, ModelRegistry
from transcriber.whisper import WhisperModel

log = logging.getLogger(__name__)

API_PREFIXES = ("/openai/v1", "/v1")
"""Groq's SDK base + /openai/v1; OpenAI's SDK base already ends in /v1."""
REAPER_INTERVAL_SECONDS = 30.0


def _announce(settings: Settings, registry: ModelRegistry) -> None:
    fallback = settings.stt.fallback_model
    for model_id in settings.stt.models:
        installed = registry.is_installed(model_id)
        note = (
            "installed"
            if installed
            else (f"not installed -> served by {fallback}" if fallback else "not installed (503)")
        )
        log.info("model %-28s %s", model_id, note)


async def _reap(services: Services, jobs: JobStore) -> None:
    while True:
        await asyncio.sleep(REAPER_INTERVAL_SECONDS)
        await asyncio.to_thread(services.stt.prune)
        await asyncio.to_thread(services.diarize.prune)
        await asyncio.to_thread(jobs.prune)
        await asyncio.to_thread(heap.trim)


def _reload_keys_on_sighup(keys: ApiKeys) -> None:
    """SIGHUP re-reads the keys file (only where the loop runs in the main thread, as
    under `speech-pipeline serve`; elsewhere the default SIGHUP handling is kept)."""
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, keys.reload)
    except (RuntimeError, ValueError, NotImplementedError):
        log.debug("SIGHUP handler not installed (not the main thread)")


def create_app(settings: Settings | None = None, loader: Loader = WhisperModel.load) -> FastAPI:
    """Build the app. Nothing heavy happens until the lifespan starts."""
    settings = settings or Settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hide_keys_in_server_logs()
        runtime = Runtime.build(settings, loader)
        _reload_keys_on_sighup(runtime.keys)
        if settings.warmup:
            await asyncio.to_thread(runtime.services.warm)
        for name, value in runtime.state().items():
            setattr(app.state, name, value)
        _announce(settings, runtime.services.stt.registry)
        runtime.batch_runner.start()
        reaper = asyncio.create_task(_reap(runtime.services, runtime.jobs))
        wyoming = None
        if settings.wyoming.uri:
            wyoming = WyomingServer(settings, runtime.services.stt, runtime.services.tts,
                                    runtime.limiter, app.state.draining)  # fmt: skip
            await wyoming.start(settings.wyoming.uri)
        app.state.wyoming = wyoming
        try:
            yield
        finally:
            reaper.cancel()
            if wyoming is not None:
                await wyoming.close()
            await asyncio.to_thread(runtime.close)

    app = FastAPI(title="speech-pipeline", version=__version__, lifespan=lifespan)
    app.state.draining = threading.Event()  # set by `serve` on SIGTERM
    install_error_handlers(app)
    openapi.install(app)
    for prefix in API_PREFIXES:
        app.include_router(transcriptions.router, prefix=prefix)
        app.include_router(models.router, prefix=prefix)
        app.include_router(speech.router, prefix=prefix)
        app.include_router(realtime.router, prefix=prefix)
        app.include_router(batches.router, prefix=prefix)
    app.include_router(health.router)
    if settings.playground:
        playground.install(app)

    app.add_middleware(MetricsMiddleware)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.limits.max_upload_bytes,
        larger_bodies={"/files": settings.batch.max_file_bytes},
        draining=app.state.draining,
    )
    return app
