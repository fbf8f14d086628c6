"""POST .../audio/transcriptions and .../audio/translations."""

from __future__ import annotations

import asyncio
import io
import threading
from typing import BinaryIO

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from audio.api.deps import (
    API_DEPENDENCIES,
    DiarizeDep,
    SettingsDep,
    SttDep,
    charge,
    project,
    request_id,
    spend,
)
from audio.errors import RequestTooLarge
from audio.media.fetch import FetchPolicy, fetch_url
from audio.media.formats import Rendered, render
from audio.services.diarize import DiarizeService
from audio.services.request import Fields, TranscriptionRequest, parse_request
from audio.services.stt import SttService
from audio.settings import Settings
from transcriber.types import Task

from .openapi import API_ERRORS, error_responses, transcription_openapi
from .sse import diarized_events, event_stream, primed, transcript_events

router = APIRouter(dependencies=API_DEPENDENCIES)

_MAX_FORM_FILES = 2
_MAX_FORM_FIELDS = 64


async def _media(req: TranscriptionRequest, settings: Settings) -> BinaryIO:
    limit = settings.limits.max_upload_bytes
    if req.url is not None:
        return io.BytesIO(await fetch_url(req.url, FetchPolicy.from_settings(settings)))
    assert isinstance(req.file, UploadFile)
    if req.file.size is not None and req.file.size > limit:
        raise RequestTooLarge(limit)
    return req.media()


async def _watch_disconnect(request: Request, cancel: threading.Event) -> None:
    """The body is read: the next message is http.disconnect, if the client leaves."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel.set()
            return


async def _handle(
    request: Request, task: Task, settings: Settings, stt: SttService,
    diarize: DiarizeService | None = None,
) -> Response:  # fmt: skip
    form = await request.form(max_files=_MAX_FORM_FILES, max_fields=_MAX_FORM_FIELDS)
    cancel = threading.Event()
    watcher = asyncio.create_task(_watch_disconnect(request, cancel))
    try:
        req = parse_request(Fields(form.multi_items()), task, settings.stt)
        resolved = stt.resolve(req.model)
        await spend(request, "audio-seconds", 0)  # admitted while anything is left
        media = await _media(req, settings)
        options = req.options(settings.stt)
        if req.diarize and diarize is not None:
            found = await diarize.transcribe(
                media, resolved, options,
                diarize.options(req.min_speakers, req.max_speakers), req.references, cancel,
            )  # fmt: skip
            await charge(request, "audio-seconds", found.transcript.duration)
            headers = {"x-served-model": resolved.served}
            if req.stream:
                events = diarized_events(found, request_id(request))
                return event_stream(events, headers, settings.shutdown_grace_seconds)
            rendered = render(found.transcript, req.response_format, req.granularities,
                              request_id(request), found.segments)  # fmt: skip
            return _response(rendered, headers)
        if req.stream:
            decoded: list[float] = []
            segments = await primed(stt.stream(media, resolved, options, cancel, decoded))
            events = transcript_events(
                segments, cancel, request_id(request), project(request),
                finish=lambda: charge(request, "audio-seconds", sum(decoded)),
            )  # fmt: skip
            headers = {"x-served-model": resolved.served}
            return event_stream(events, headers, settings.shutdown_grace_seconds)
        transcript = await stt.transcribe(media, resolved, options, cancel)
        await charge(request, "audio-seconds", transcript.duration)
    finally:
        watcher.cancel()
        await form.close()
    rendered = render(transcript, req.response_format, req.granularities, request_id(request))
    return _response(rendered, {"x-served-model": resolved.served})


def _response(rendered: Rendered, headers: dict[str, str]) -> Response:
    if rendered.json is not None:
        return JSONResponse(rendered.json, headers=headers)
    return Response(rendered.text, media_type=rendered.media_type, headers=headers)


_FORM = transcription_openapi()
_ERRORS = error_responses(*API_ERRORS, 404, 499)


@router.post(
    "/audio/transcriptions",
    summary="Transcribe audio into the input language",
    openapi_extra=_FORM,
    responses=_ERRORS,
)
async def transcriptions(
    request: Request,
    settings: SettingsDep,
    stt: SttDep,
    diarize: DiarizeDep,
) -> Response:
    return await _handle(request, "transcribe", settings, stt, diarize)


@router.post(
    "/audio/translations",
    summary="Translate audio into English",
    openapi_extra=_FORM,
    responses=_ERRORS,
)
async def translations(
    request: Request,
    settings: SettingsDep,
    stt: SttDep,
) -> Response:
    return await _handle(request, "translate", settings, stt)
