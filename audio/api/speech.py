"""POST .../audio/speech and GET .../audio/voices."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict

from audio.api.deps import (
    API_DEPENDENCIES,
    SettingsDep,
    TtsDep,
    project,
    request_id,
    spend,
)
from audio.api.openapi import API_ERRORS, error_responses, speech_responses
from audio.api.sse import event_stream, primed, speech_events
from audio.errors import InvalidRequest
from audio.media.encode import (
    DEFAULT_SPEECH_SAMPLE_RATE,
    SPEECH_FORMATS,
    SPEECH_MEDIA_TYPES,
    SPEECH_SAMPLE_RATES,
)
from audio.services.tts import SpeechJob, TtsService
from voices.types import SpeechOptions

router = APIRouter(dependencies=API_DEPENDENCIES)

MIN_SPEED, MAX_SPEED = 0.25, 5.0
STREAM_FORMATS = ("audio", "sse")


class SpeechBody(BaseModel):
    """The JSON body of a speech request (HTTP schema; extras ignored)."""

    model_config = ConfigDict(extra="ignore")

    model: str
    input: str
    voice: str
    response_format: str = "wav"
    sample_rate: int | None = None
    speed: float = 1.0
    stream_format: str | None = None
    stream: bool = True
    """Extension: `false` sends the whole file at once, with Content-Length (and exact
    WAV sizes); by default audio streams sentence by sentence, as OpenAI's does."""


def _job(body: SpeechBody, tts: TtsService, max_chars: int) -> SpeechJob:
    voice = tts.voice_for(body.model, body.voice)
    if not body.input.strip() or len(body.input) > max_chars:
        raise InvalidRequest(
            f"input must be 1 to {max_chars} characters, got {len(body.input)}", param="input"
        )
    if body.response_format not in SPEECH_FORMATS:
        raise InvalidRequest(
            f"response_format must be one of {list(SPEECH_FORMATS)}, got {body.response_format!r}",
            param="response_format",
        )
    rate = body.sample_rate or DEFAULT_SPEECH_SAMPLE_RATE
    if rate not in SPEECH_SAMPLE_RATES:
        raise InvalidRequest(
            f"sample_rate must be one of {list(SPEECH_SAMPLE_RATES)}, got {body.sample_rate}",
            param="sample_rate",
        )
    if not MIN_SPEED <= body.speed <= MAX_SPEED:
        raise InvalidRequest(
            f"speed must be between {MIN_SPEED} and {MAX_SPEED}, got {body.speed}", param="speed"
        )
    if body.stream_format is not None and body.stream_format not in STREAM_FORMATS:
        raise InvalidRequest(
            f"stream_format must be one of {list(STREAM_FORMATS)}, got {body.stream_format!r}",
            param="stream_format",
        )
    return SpeechJob(body.input, voice, SpeechOptions(speed=body.speed), body.response_format, rate)


@router.post(
    "/audio/speech",
    summary="Generate speech from text",
    response_class=Response,
    responses={**speech_responses(), **error_responses(*API_ERRORS, 404)},
)
async def speech(
    request: Request, body: SpeechBody, settings: SettingsDep, tts: TtsDep
) -> Response:
    job = _job(body, tts, settings.tts.max_input_chars)
    await spend(request, "characters", len(body.input))
    media_type = SPEECH_MEDIA_TYPES[job.response_format]
    headers = {"x-voice": job.voice.name}
    if body.stream_format is None and not body.stream:
        return Response(await tts.render(job), media_type=media_type, headers=headers)
    chunks = await primed(tts.stream(job))
    if body.stream_format == "sse":
        events = speech_events(chunks, request_id(request), project(request))
        return event_stream(events, headers, settings.shutdown_grace_seconds)
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


@router.get("/audio/voices", summary="List the TTS voices", responses=error_responses(*API_ERRORS))
async def voices(request: Request, tts: TtsDep) -> dict[str, Any]:
    data = []
    for voice in tts.catalog.voices:
        models = [m for m, lang in tts.catalog.models.items() if lang == voice.language]
        engine, _shaped = tts.engines.engine_for(voice)
        data.append({
            "id": voice.name,
            "object": "voice",
            "language": voice.language,
            "gender": voice.gender,
            "age": voice.age,
            "description": voice.description,
            "aliases": list(voice.aliases),
            "models": models,
            "accent": voice.accent,
            "speaker": voice.speaker,
            "engine": tts.engines.resolve(engine),
            "installed": tts.engines.installed(engine),
            "f0_hz": voice.f0_hz,
            "rate": voice.rate,
        })  # fmt: skip
    return {"object": "list", "data": data}
