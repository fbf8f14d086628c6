"""Model registry: embedded assembly, 503 naming the fix, fallback, pull via a fake hub, TTL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from audio.errors import ModelNotFound, ModelUnavailable, as_service_error
from audio.settings import SttSettings
from transcriber.embedded import MODEL_BIN_SHA256, embedded_model_dir
from transcriber.errors import ModelNotInstalled, UnknownModel
from transcriber.registry import ModelRegistry
from transcriber.whisper import LoadOptions

from ..fakehub import fake_hub
from ..helpers import SAMPLES, live_server, run_cli

CLIP = (SAMPLES / "hello_en.wav").read_bytes()


def test_embedded_model_is_assembled_with_checksum(cache_dir: Path) -> None:
    import hashlib

    path = embedded_model_dir(cache_dir)
    digest = hashlib.sha256((path / "model.bin").read_bytes()).hexdigest()
    assert digest == MODEL_BIN_SHA256
    assert embedded_model_dir(cache_dir) == path  # second call reuses it


def test_unknown_and_unavailable(tmp_path: Path) -> None:
    settings = SttSettings(cache_dir=tmp_path, hub_cache_dir=tmp_path / "hub")
    registry = ModelRegistry(settings.registry_config())
    with pytest.raises(UnknownModel) as unknown:
        registry.resolve("nope")
    assert isinstance(as_service_error(unknown.value), ModelNotFound)
    with pytest.raises(ModelNotInstalled) as err:
        registry.resolve("whisper-1")
    assert err.value.model_id == "whisper-large-v3"
    shown = as_service_error(err.value)
    assert isinstance(shown, ModelUnavailable)
    assert "speech-pipeline models pull whisper-large-v3" in shown.message
    assert registry.resolve("whisper-base").served == "whisper-base"


def test_503_names_the_fix_without_fallback(make_settings) -> None:  # type: ignore[no-untyped-def]
    with live_server(make_settings(stt={"fallback_model": None})) as (url, _app):
        response = httpx.post(
            f"{url}/openai/v1/audio/transcriptions",
            data={"model": "whisper-large-v3"},
            files={"file": ("a.wav", CLIP)},
        )
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "model_unavailable"
        assert "speech-pipeline models pull whisper-large-v3" in error["message"]
        models = httpx.get(f"{url}/v1/models").json()["data"]
        large = next(m for m in models if m["id"] == "whisper-large-v3")
        assert large["installed"] is False and large["active"] is False


def test_models_list_and_retrieve(server: str) -> None:
    import openai

    client = openai.OpenAI(api_key="x", base_url=f"{server}/v1")
    ids = {m.id for m in client.models.list()}
    assert {
        "whisper-base",
        "whisper-large-v3",
        "whisper-large-v3-turbo",
        "distil-whisper-large-v3-en",
        "whisper-1",
    } <= ids
    assert {"playai-tts", "playai-tts-arabic", "canopylabs/orpheus-v1-english", "tts-1"} <= ids
    orpheus = client.models.retrieve("canopylabs/orpheus-arabic-saudi").model_dump()
    assert orpheus["kind"] == "text-to-speech" and "Amira-PlayAI" in orpheus["voices"]
    turbo = client.models.retrieve("whisper-large-v3-turbo").model_dump()
    assert turbo["served_by"] == "whisper-base" and turbo["installed"] is False
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("whisper-9000")
    raw = httpx.get(f"{server}/openai/v1/models").json()
    assert raw["object"] == "list"
    for card in raw["data"]:
        assert {"id", "object", "created", "owned_by", "active", "context_window"} <= set(card)


def test_pull_from_fake_hub_then_serve_without_fallback(
    make_settings,
    cache_dir: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """`models pull` downloads through huggingface_hub from HF_ENDPOINT, with progress."""
    weights = embedded_model_dir(cache_dir)
    repo = {p.name: p for p in weights.iterdir()}
    hub_cache = tmp_path / "hub"
    with fake_hub({"Systran/faster-whisper-large-v3": repo}) as (endpoint, log):
        done = run_cli(
            "models", "pull", "whisper-large-v3", HF_ENDPOINT=endpoint,
            SPEECH_STT__HUB_CACHE_DIR=str(hub_cache), HF_HUB_DISABLE_TELEMETRY="1",
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Fetching" in done.stderr or "%" in done.stderr  # a progress bar was shown
    assert any("/resolve/" in line and "model.bin" in line for line in log)
    settings = make_settings(stt={"fallback_model": None, "hub_cache_dir": hub_cache})
    with live_server(settings) as (url, _app):
        response = httpx.post(
            f"{url}/openai/v1/audio/transcriptions",
            data={"model": "whisper-1"},
            files={"file": ("a.wav", CLIP)},
            timeout=120,
        )
    assert response.status_code == 200, response.text
    assert response.headers["x-served-model"] == "whisper-large-v3"
    assert "hello" in response.json()["text"].lower()


def test_pull_of_missing_repo_fails_clearly(tmp_path: Path) -> None:
    with fake_hub({}) as (endpoint, _log):
        done = run_cli(
            "models", "pull", "distil-whisper-large-v3-en", timeout=120, HF_ENDPOINT=endpoint,
            SPEECH_STT__HUB_CACHE_DIR=str(tmp_path),
        )  # fmt: skip
    assert done.returncode != 0


def test_load_once_under_contention_and_ttl_unload(tmp_path: Path) -> None:
    loads: list[str] = []

    def slow_loader(path: str, _options: LoadOptions) -> object:
        loads.append(path)
        time.sleep(0.2)
        return object()

    settings = SttSettings(cache_dir=tmp_path, model_ttl_seconds=60)
    registry = ModelRegistry(settings.registry_config(), loader=slow_loader)  # type: ignore[arg-type]
    models: list[object] = []
    threads = [
        threading.Thread(target=lambda: models.append(registry.get("whisper-base")))
        for _ in range(10)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(m) for m in models}) == 1
    assert registry.unload_idle(now=time.monotonic() + 30) == []
    assert registry.unload_idle(now=time.monotonic() + 61) == ["whisper-base"]
    assert not registry.is_loaded("whisper-base")
    registry.get("whisper-base")
    assert registry.load_counts["whisper-base"] == 2


def test_an_unloaded_model_frees_both_sets_of_replicas_at_once(cache_dir: Path) -> None:
    """Unloading returns the memory and threads of the model and of its lower-priority
    replicas when the registry lets go, not when the cyclic garbage collector runs."""
    import gc
    import os
    import weakref

    settings = SttSettings(cache_dir=cache_dir, model_ttl_seconds=60, background_nice=5)
    registry = ModelRegistry(settings.registry_config())
    registry.get("whisper-base")  # a first load starts the libraries' own lasting threads
    registry.unload_idle(now=time.monotonic() + 61)
    threads_before = len(os.listdir("/proc/self/task"))
    gc.disable()
    try:
        model = registry.get("whisper-base")
        assert model.background is not model
        refs = [weakref.ref(model), weakref.ref(model.background)]
        assert len(os.listdir("/proc/self/task")) > threads_before  # the replicas' threads
        del model
        assert registry.unload_idle(now=time.monotonic() + 61) == ["whisper-base"]
        assert [ref() for ref in refs] == [None, None]
        assert len(os.listdir("/proc/self/task")) == threads_before
    finally:
        gc.enable()
        registry.close()
