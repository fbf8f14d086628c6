"""The STT model registry: ids to sources, installed or not, loaded once, unloaded idle.

Created by the service (or the CLI) from a `RegistryConfig` and passed in; never a
global. Loading goes through the generic `common.modelcache.ModelCache`, so ten
requests arriving at once for a cold model load it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from common.modelcache import ModelCache
from transcriber.embedded import EMBEDDED_SOURCE, embedded_available, embedded_model_dir
from transcriber.errors import ModelLoadFailed, ModelNotInstalled, UnknownModel
from transcriber.whisper import LoadOptions, WhisperModel

HUB_FILES = [
    "config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
    "preprocessor_config.json",
]
"""Files of a CT2 Whisper repository that a pull downloads."""

log = logging.getLogger(__name__)

Loader = Callable[[str, LoadOptions], WhisperModel]
"""Loads a model directory (tests pass a fake)."""


@dataclass(frozen=True)
class RegistryConfig:
    """Which models exist, where their weights are, and how they load."""

    models: Mapping[str, str]
    """Model id -> source: `embedded`, a local CT2 directory (absolute, `./`, `~`,
    `file:`), or a Hugging Face repo id."""
    cache_dir: Path
    """Where the embedded model is assembled."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Extra ids that name another model (OpenAI's `whisper-1`)."""
    fallback_model: str | None = None
    """Model that serves a known model whose weights are absent; None: ModelNotInstalled."""
    hub_cache_dir: Path | None = None
    """huggingface_hub cache for pulled models; None = HF_HOME's default."""
    idle_seconds: float = 0.0
    """Unload a model idle this long; 0 keeps models loaded."""
    load: LoadOptions = field(default_factory=LoadOptions)
    """Device, quantization and replicas."""


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


class ModelRegistry:
    """Owns the STT models of one process."""

    def __init__(self, config: RegistryConfig, loader: Loader = WhisperModel.load) -> None:
        self.config = config
        self._loader = loader
        self.cache: ModelCache[WhisperModel] = ModelCache("stt model", config.idle_seconds)

    # -- ids --------------------------------------------------------------
    def canonical(self, model_id: str) -> str:
        """Resolve aliases; raise UnknownModel for an unknown id."""
        canonical = self.config.aliases.get(model_id, model_id)
        if canonical not in self.config.models:
            raise UnknownModel(model_id)
        return canonical

    def known_ids(self) -> list[str]:
        return [*self.config.models, *self.config.aliases]

    def source(self, model_id: str) -> str:
        return self.config.models[self.canonical(model_id)]

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
                cache_dir=self.config.hub_cache_dir,
                local_files_only=True,
            )
        except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError):
            return None
        return Path(path) if (Path(path) / "model.bin").is_file() else None

    def pull(self, model_id: str) -> Path:
        """Download (or assemble) a model's weights; progress bars go to stderr."""
        source = self.source(model_id)
        if source == EMBEDDED_SOURCE:
            return embedded_model_dir(self.config.cache_dir)
        if _is_local(source):
            path = _local_path(source)
            if not (path / "model.bin").is_file():
                raise ModelNotInstalled(model_id, f"{path} holds no CT2 model.bin")
            return path
        from huggingface_hub import snapshot_download

        return Path(
            snapshot_download(source, allow_patterns=HUB_FILES, cache_dir=self.config.hub_cache_dir)
        )

    def local_dir(self, model_id: str) -> Path:
        """Where the weights of an installed model are (ModelNotInstalled if absent)."""
        source = self.source(model_id)
        if source == EMBEDDED_SOURCE:
            return embedded_model_dir(self.config.cache_dir)
        if _is_local(source):
            return _local_path(source)
        snapshot = self._hub_snapshot(source)
        if snapshot is None:
            raise ModelNotInstalled(self.canonical(model_id))
        return snapshot

    # -- serving ----------------------------------------------------------
    def resolve(self, model_id: str) -> Resolved:
        """Pick the model that serves `model_id` (the fallback when its weights are absent)."""
        canonical = self.canonical(model_id)
        if self.is_loaded(canonical) or self.is_installed(canonical):
            return Resolved(requested=model_id, served=canonical)
        fallback = self.config.fallback_model
        if fallback and fallback != canonical:
            fallback = self.canonical(fallback)
            if self.is_installed(fallback):
                return Resolved(requested=model_id, served=fallback)
        raise ModelNotInstalled(canonical)

    def is_loaded(self, model_id: str) -> bool:
        return self.cache.is_loaded(model_id)

    def get(self, model_id: str) -> WhisperModel:
        """The loaded model, loading it once (blocking; call off the event loop)."""
        canonical = self.canonical(model_id)
        return self.cache.get(canonical, lambda: self._load(canonical))

    def _load(self, canonical: str) -> WhisperModel:
        path = self.local_dir(canonical)
        try:
            return self._loader(str(path), self.config.load)
        except Exception as exc:  # CTranslate2 raises RuntimeError, ValueError, ...
            log.error("model %s failed to load from %s: %s", canonical, path, exc)
            raise ModelLoadFailed(canonical, str(exc)) from exc

    @property
    def load_counts(self) -> dict[str, int]:
        return self.cache.load_counts

    def unload_idle(self, now: float | None = None) -> list[str]:
        """Drop models idle longer than the configured time; return their ids."""
        return self.cache.unload_idle(now)

    def info(self, model_id: str) -> ModelInfo:
        canonical = self.canonical(model_id)
        return ModelInfo(
            id=model_id,
            source=self.config.models[canonical],
            installed=self.is_installed(canonical),
            loaded=self.is_loaded(canonical),
            alias_of=canonical if canonical != model_id else None,
        )

    def close(self) -> None:
        self.cache.close()
