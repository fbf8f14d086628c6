"""Server-Sent Events for streamed transcriptions (OpenAI's transcript.text.* events)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from audio.errors import ServiceError
from audio.types import Segment

log = logging.getLogger(__name__)

PING_SECONDS = 15
"""Keep-alive comments on long silences between deltas."""


def _event(body: dict[str, Any]) -> dict[str, str]:
    return {"data": json.dumps(body, ensure_ascii=False)}


async def sse_events(
    first: Segment | None, rest: AsyncIterator[Segment], cancel: threading.Event, request_id: str
) -> AsyncIterator[dict[str, str]]:
    """A delta per decoded segment, then `done` with the whole text; a failure after
    the stream began is one event with an `error` key."""
    parts: list[str] = []
    try:
        segment = first
        while segment is not None:
            delta = segment.text if parts else segment.text.lstrip()
            parts.append(delta)
            yield _event({"type": "transcript.text.delta", "delta": delta})
            segment = await anext(rest, None)
        yield _event({"type": "transcript.text.done", "text": "".join(parts).strip()})
    except ServiceError as exc:
        error = {"message": exc.message, "type": exc.error_type, "param": exc.param,
                 "code": exc.code}  # fmt: skip
        yield _event({"type": "error", "error": error})
    except Exception:
        log.exception("stream failed in request %s", request_id)
        error = {"message": f"Internal server error (request {request_id}).",
                 "type": "server_error", "param": None, "code": None}  # fmt: skip
        yield _event({"type": "error", "error": error})
    finally:
        cancel.set()
