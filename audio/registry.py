"""The model registry: maps ids to sources, loads once, unloads idle models.

Created in the app's lifespan (or by the CLI) and passed in; never a global.
Thread-safe: ten requests arriving at once for a cold model load it once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio.embedded import embedded_available, embedded_model_dir
from audio.errors import ModelNotFound, ModelUnavailable
from audio.settings import EMBEDDED_SOURCE, SttSettings

log = logging.getLogger(__name__)

HUB_FILES = [
    "config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
    "preprocessor_config.json",
]
"""Files of a CT2 Whisper repository that a pull downloads."""


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about one model id."""

    id: str
    """The id clients use."""
    source: str
    """`embedded`, a local directory or a Hugging Face repo id."""
    installed: bool
    """Whether its weights are on this machine."""
    loaded: bool
    """Whether it is in memory now."""
    alias_of: str | None = None
    """For an alias, the id it names."""


@dataclass(frozen=True)
class Resolved:
    """Which model serves a request."""

    requested: str
    """The id the client sent."""
    served: str
    """The canonical id of the model that will run."""


def _is_local(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~", "file:"))


def _local_path(source: str) -> Path:
    return Path(source.removeprefix("file:")).expanduser()


Loader = Callable[[str, SttSettings], Any]


def load_whisper(path: str, settings: SttSettings) -> Any:
    """Load a CT2 Whisper model with faster-whisper (the default loader)."""
    from faster_whisper import WhisperModel

    return WhisperModel(
        path,
        device=settings.device,
        compute_type=settings.compute_type,
        cpu_threads=settings.cpu_threads,
        num_workers=settings.parallel_decoders(),
    )


class ModelRegistry:
    """Owns the STT models of one process."""

    def __init__(self, settings: SttSettings, loader: Loader = load_whisper) -> None:
        self._settings = settings
        self._loader = loader
        self._lock = threading.Lock()
        self._model_locks: dict[str, threading.Lock] = {}
        self._models: dict[str, Any] = {}
        self._last_used: dict[str, float] = {}
        self.load_counts: dict[str, int] = {}
        """How often each model was loaded (for tests and /metrics)."""

    # -- ids --------------------------------------------------------------
    def canonical(self, model_id: str) -> str:
        """Resolve aliases; raise ModelNotFound for an unknown id."""
        model_id = self._settings.aliases.get(model_id, model_id)
        if model_id not in self._settings.models:
            raise ModelNotFound(model_id)
        return model_id

    def known_ids(self) -> list[str]:
        return [*self._settings.models, *self._settings.aliases]

    def source(self, model_id: str) -> str:
        return self._settings.models[self.canonical(model_id)]

    # -- installation -----------------------------------------------------
    def is_installed(self, model_id: str) -> bool:
        source = self.source(model_id)
        if source == EMBEDDED_SOURCE:
            return embedded_available()
        if _is_local(source):
            return (_local_path(source) / "model.bin").is_file()
        return self._hub_snapshot(source) is not None

    def _hub_snapshot(self, repo_id: str) -> Path | None:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            path = snapshot_download(
                repo_id,
                allow_patterns=HUB_FILES,
                cache_dir=self._settings.hub_cache_dir,
                local_files_only=True,
            )
        except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
            return None
        return Path(path) if (Path(path) / "model.bin").is_file() else None

    def pull(self, model_id: str) -> Path:
        """Download (or assemble) a model's weights; progress bars go to stderr."""
        source = self.source(model_id)
        if source == EMBEDDED_SOURCE:
            return embedded_model_dir(self._settings.cache_dir)
        if _is_local(source):
            path = _local_path(source)
            if not (path / "model.bin").is_file():
                raise ModelUnavailable(f"{path} holds no CT2 model.bin", param="model")
            return path
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(
                source, allow_patterns=HUB_FILES, cache_dir=self._settings.hub_cache_dir
            )
        )

    def local_dir(self, model_id: str) -> Path:
        """Where the weights of an installed model are (ModelUnavailable if absent)."""
        source = self.source(model_id)
        if source == EMBEDDED_SOURCE:
            return embedded_model_dir(self._settings.cache_dir)
        if _is_local(source):
            return _local_path(source)
        snapshot = self._hub_snapshot(source)
        if snapshot is None:
            raise self._unavailable(model_id)
        return snapshot

    def _unavailable(self, model_id: str) -> ModelUnavailable:
        return ModelUnavailable(
            f"The weights of model `{model_id}` are not installed on this server. "
            f"Install them with `speech-pipeline models pull {model_id}`, or map the id "
            f"to a local CT2 directory with SPEECH_STT__MODELS, or set "
            f"SPEECH_STT__FALLBACK_MODEL to serve it with an installed model.",
            param="model",
        )

    # -- serving ----------------------------------------------------------
    def resolve(self, model_id: str) -> Resolved:
        """Pick the model that serves `model_id` (fallback when absent)."""
        canonical = self.canonical(model_id)
        if self.is_loaded(canonical) or self.is_installed(canonical):
            return Resolved(requested=model_id, served=canonical)
        fallback = self._settings.fallback_model
        if fallback and fallback != canonical:
            fallback = self.canonical(fallback)
            if self.is_installed(fallback):
                return Resolved(requested=model_id, served=fallback)
        raise self._unavailable(canonical)

    def is_loaded(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._models

    def get(self, model_id: str) -> Any:
        """Return the loaded model, loading it once (blocking; call off the loop)."""
        model_id = self.canonical(model_id)
        with self._lock:
            model_lock = self._model_locks.setdefault(model_id, threading.Lock())
        with model_lock:
            with self._lock:
                model = self._models.get(model_id)
            if model is None:
                path = self.local_dir(model_id)
                started = time.monotonic()
                model = self._loader(str(path), self._settings)
                log.info("loaded %s from %s in %.1fs", model_id, path, time.monotonic() - started)
                with self._lock:
                    self._models[model_id] = model
                    self.load_counts[model_id] = self.load_counts.get(model_id, 0) + 1
            with self._lock:
                self._last_used[model_id] = time.monotonic()
            return model

    def unload_idle(self, now: float | None = None) -> list[str]:
        """Drop models idle longer than the TTL; return their ids."""
        ttl = self._settings.model_ttl_seconds
        if ttl <= 0:
            return []
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [m for m, t in self._last_used.items() if now - t > ttl and m in self._models]
            for model_id in idle:
                del self._models[model_id]
        for model_id in idle:
            log.info("unloaded %s after %.0fs idle", model_id, ttl)
        return idle

    def info(self, model_id: str) -> ModelInfo:
        canonical = self.canonical(model_id)
        return ModelInfo(
            id=model_id,
            source=self._settings.models[canonical],
            installed=self.is_installed(canonical),
            loaded=self.is_loaded(canonical),
            alias_of=canonical if canonical != model_id else None,
        )

    def close(self) -> None:
        with self._lock:
            self._models.clear()
