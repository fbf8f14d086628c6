"""Streamed responses: priming (errors before the first byte stay statuses) and the
Server-Sent Events of transcriptions (transcript.text.*) and speech (speech.audio.*)."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from sse_starlette import EventSourceResponse

from audio.errors import InternalError, as_service_error
from audio.media.formats import diarized_segment, usage
from audio.services.diarize import DiarizedTranscript
from transcriber.types import Segment

log = logging.getLogger(__name__)

PING_SECONDS = 15
"""Keep-alive comments on long silences between events."""
T = TypeVar("T")
_NOTHING = object()


def event_stream(
    events: AsyncIterator[dict[str, str]], headers: dict[str, str], grace_seconds: float
) -> EventSourceResponse:
    """An SSE response that, on SIGTERM, runs on until it ends or the shutdown grace is
    spent (sse-starlette would otherwise end every stream at once)."""
    return EventSourceResponse(
        events, headers=headers, ping=PING_SECONDS, shutdown_grace_period=grace_seconds
    )


async def primed(source: AsyncIterator[T]) -> AsyncIterator[T]:
    """Pull the first item now, so a failure before it is still a proper status code;
    return an iterator over every item."""
    first: Any = await anext(source, _NOTHING)

    async def everything() -> AsyncIterator[T]:
        try:
            if first is not _NOTHING:
                yield first
            async for item in source:
                yield item
        finally:
            await source.aclose()  # type: ignore[attr-defined]

    return everything()


def _event(body: dict[str, Any]) -> dict[str, str]:
    return {"data": json.dumps(body, ensure_ascii=False)}


def _error_event(exc: Exception, request_id: str, project: str) -> dict[str, str]:
    """The contract's envelope as one event; nothing internal for unexpected errors."""
    known = as_service_error(exc)
    if known is None:
        log.error("stream failed in request %s (project %s)", request_id, project, exc_info=exc)
        known = InternalError(request_id)
    return _event({"type": "error", **known.body()})


async def transcript_events(
    segments: AsyncIterator[Segment], cancel: threading.Event, request_id: str,
    project: str, finish: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[dict[str, str]]:  # fmt: skip
    """A delta per decoded segment, then `done` with the whole text; a failure after
    the stream began is one event with an `error` key."""
    parts: list[str] = []
    try:
        async for segment in segments:
            delta = segment.text if parts else segment.text.lstrip()
            parts.append(delta)
            yield _event({"type": "transcript.text.delta", "delta": delta})
        yield _event({"type": "transcript.text.done", "text": "".join(parts).strip()})
    except Exception as exc:
        yield _error_event(exc, request_id, project)
    finally:
        cancel.set()
        if finish is not None:
            await finish()


async def diarized_events(
    found: DiarizedTranscript, request_id: str
) -> AsyncIterator[dict[str, str]]:
    """OpenAI's diarized stream: a `transcript.text.segment` per speaker segment, then
    `transcript.text.done` with the whole text and the usage. The speakers are known
    only once the whole file is heard, so the segments come together at the end."""
    for piece in found.segments:
        yield _event(diarized_segment(piece))
    transcript = found.transcript
    yield _event({"type": "transcript.text.done", "text": transcript.text,
                  "usage": usage(transcript)})  # fmt: skip


async def speech_events(
    chunks: AsyncIterator[bytes], request_id: str, project: str
) -> AsyncIterator[dict[str, str]]:
    """`speech.audio.delta` (base64 of the encoded bytes) per chunk, then `done`."""
    try:
        async for chunk in chunks:
            audio = base64.b64encode(chunk).decode("ascii")
            yield _event({"type": "speech.audio.delta", "audio": audio})
        yield _event({"type": "speech.audio.done"})
    except Exception as exc:
        yield _error_event(exc, request_id, project)
