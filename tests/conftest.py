from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.settings import Settings, SttSettings
from bench.postgres import create_database, postgres_server, why_not
from bench.server import redis_server

from .helpers import SHARED_SAMPLES, live_server


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedded-model cache for the whole run (assembled once)."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def hub_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty huggingface_hub cache: the Groq ids' weights are absent."""
    return tmp_path_factory.mktemp("hub-cache")


@pytest.fixture(scope="session")
def make_settings(cache_dir: Path, hub_cache: Path):  # type: ignore[no-untyped-def]
    def make(**overrides: object) -> Settings:
        """Settings for a test server; warm-up off (a faster suite) unless asked for."""
        stt = {"cache_dir": cache_dir, "hub_cache_dir": hub_cache, "fallback_model": "whisper-base"}
        stt.update(overrides.pop("stt", {}))  # type: ignore[arg-type]
        overrides.setdefault("warmup", False)
        return Settings(stt=SttSettings(**stt), **overrides)  # type: ignore[arg-type]

    return make


@pytest.fixture(scope="session")
def server(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The service as `make serve` runs it (fallback to the embedded model)."""
    with live_server(make_settings(warmup=True)) as (url, _app):
        yield url


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    if not SHARED_SAMPLES.is_dir():
        pytest.skip(f"{SHARED_SAMPLES} is absent (a fresh clone without ../shared)")
    return SHARED_SAMPLES


@pytest.fixture(scope="session")
def postgres_base() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback for the whole run (skips where absent)."""
    reason = why_not()
    if reason is not None:
        pytest.skip(reason)
    with postgres_server() as base:
        yield base


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """The job store's database for a module's tests: None (the embedded SQLite), then a
    fresh database on the throwaway PostgreSQL server."""
    if request.param == "sqlite":
        return None
    base: str = request.getfixturevalue("postgres_base")
    return create_database(base, f"test_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (make test installs it where it can: "
                    "Debian's redis-server package, as root)")  # fmt: skip
    with redis_server() as url:
        yield url
