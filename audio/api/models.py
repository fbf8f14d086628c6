"""GET .../models and .../models/{id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from audio.api.deps import API_DEPENDENCIES, SttDep, TtsDep
from audio.api.openapi import API_ERRORS, error_responses
from audio.services.tts import TtsService
from transcriber.registry import ModelRegistry

router = APIRouter(dependencies=API_DEPENDENCIES)

CREATED = 1_735_689_600
"""A fixed `created` timestamp (2025-01-01): the ids are ours, not dated releases."""
WHISPER_CONTEXT_WINDOW = 448
TTS_CONTEXT_WINDOW = 10_000


def model_card(registry: ModelRegistry, model_id: str, fallback: str | None) -> dict[str, Any]:
    info = registry.info(model_id)
    served_by = info.alias_of or info.id
    available = info.installed or info.loaded
    if not available and fallback:
        served_by = registry.canonical(fallback)
        available = registry.is_installed(served_by)
    return {
        "id": info.id,
        "object": "model",
        "created": CREATED,
        "owned_by": "speech-pipeline",
        "active": available,
        "context_window": WHISPER_CONTEXT_WINDOW,
        "kind": "speech-to-text",
        "installed": info.installed,
        "loaded": info.loaded,
        "source": info.source,
        "alias_of": info.alias_of,
        "served_by": served_by,
    }


def tts_card(tts: TtsService, model_id: str) -> dict[str, Any]:
    language = tts.catalog.models[model_id]
    voices = [v for v in tts.catalog.voices if v.language == language]
    installed = all(tts.engines.installed(v.engine) for v in voices)
    return {
        "id": model_id,
        "object": "model",
        "created": CREATED,
        "owned_by": "speech-pipeline",
        "active": installed,
        "context_window": TTS_CONTEXT_WINDOW,
        "kind": "text-to-speech",
        "language": language,
        "installed": installed,
        "voices": [v.name for v in voices],
    }


@router.get("/models", responses=error_responses(*API_ERRORS))
async def list_models(stt: SttDep, tts: TtsDep) -> dict[str, Any]:
    fallback = stt.settings.stt.fallback_model
    data = [model_card(stt.registry, m, fallback) for m in stt.registry.known_ids()]
    data += [tts_card(tts, m) for m in tts.catalog.models]
    return {"object": "list", "data": data}


@router.get("/models/{model_id:path}", responses=error_responses(*API_ERRORS, 404))
async def retrieve_model(model_id: str, stt: SttDep, tts: TtsDep) -> dict[str, Any]:
    if model_id in tts.catalog.models:
        return tts_card(tts, model_id)
    return model_card(stt.registry, model_id, stt.settings.stt.fallback_model)
