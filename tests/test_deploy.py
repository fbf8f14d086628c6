"""The deployment files parse and say what the README says: Docker cannot run here, so
the compose file is validated, not started."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from audio.settings import Settings

from .helpers import ROOT

DEPLOY = ROOT / "deploy"


def _compose() -> dict[str, object]:
    loaded = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_has_replicas_a_balancer_redis_postgres_and_shared_files() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"api", "balancer", "postgres", "redis"}
    api = services["api"]
    assert api["build"] == ".." and (DEPLOY / api["build"] / "Dockerfile").is_file()
    assert api["deploy"]["replicas"] >= 2
    env = api["environment"]
    files_dir = env["SPEECH_BATCH__FILES_DIR"]
    assert any(v.endswith(f":{files_dir}") for v in api["volumes"])  # the shared volume
    assert env["SPEECH_BATCH__DATABASE_URL"].startswith("postgresql://")
    host = re.search(r"@([\w-]+):", env["SPEECH_BATCH__DATABASE_URL"])
    assert host and host.group(1) in services
    assert env["SPEECH_RATE_LIMITS__STORAGE_URI"].split("//")[1].split(":")[0] in services
    assert set(api["depends_on"]) == {"postgres", "redis"}
    for mount in services["balancer"]["volumes"]:
        assert (DEPLOY / mount.split(":")[0]).is_file()


def test_every_setting_the_compose_file_sets_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _compose()["services"]["api"]["environment"]  # type: ignore[index]
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.batch.database_url == env["SPEECH_BATCH__DATABASE_URL"]
    assert settings.batch.files_dir == Path(env["SPEECH_BATCH__FILES_DIR"])
    assert settings.rate_limits.storage_uri == env["SPEECH_RATE_LIMITS__STORAGE_URI"]
    commented = re.findall(r"#\s*(SPEECH_[A-Z_]+):", (DEPLOY / "docker-compose.yml").read_text())
    fields = {f"SPEECH_{section.upper()}__{name.upper()}"
              for section, model in Settings.model_fields.items()
              if hasattr(model.annotation, "model_fields")
              for name in model.annotation.model_fields}  # type: ignore[union-attr]  # fmt: skip
    top = {f"SPEECH_{name.upper()}" for name in Settings.model_fields}
    assert set(commented) <= fields | top, set(commented) - fields - top


def test_the_balancer_passes_sockets_and_streams_to_the_api_replicas() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    assert "server api:8000" in conf and "proxy_pass http://speech_api;" in conf
    assert "proxy_set_header Upgrade $http_upgrade;" in conf  # realtime websockets
    assert "proxy_buffering off;" in conf  # SSE and streamed speech
    assert conf.count("{") == conf.count("}")
