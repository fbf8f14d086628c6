"""GET .../realtime upgraded to a WebSocket: OpenAI's Realtime API, transcription mode.

The connection's part only: who may connect (the HTTP keys, by header, query string or
the browser subprotocol), how many, the frames' size, a client that stops reading, idle
and drain. Everything a session says is `realtime.session`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import MutableMapping
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from audio.api.deps import bearer, client, require_key
from audio.api.errors import service_error_response
from audio.errors import (
    InvalidRequest,
    Overloaded,
    RateLimited,
    ServiceError,
    ShuttingDown,
)
from audio.ops.ratelimit import RateLimiter
from audio.services.realtime import RealtimeHub, RealtimeTranscriber, session_limits
from audio.services.stt import SttService
from audio.settings import Settings
from realtime.errors import SessionError
from realtime.events import error_event
from realtime.session import RealtimeSession
from realtime.types import SessionConfig, Shape

log = logging.getLogger(__name__)
router = APIRouter()

SUBPROTOCOL = "realtime"
KEY_SUBPROTOCOL = "openai-insecure-api-key."
"""Browsers cannot set headers on a WebSocket: OpenAI takes the key as a subprotocol."""
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
CLOSE_NORMAL, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_RESTART, CLOSE_TRY_LATER = (
    1000, 1008, 1009, 1012, 1013,
)  # fmt: skip
POLL_SECONDS = 0.5
"""How often a quiet connection checks for drain and idleness."""


def _offered(websocket: WebSocket) -> list[str]:
    return [p.strip() for p in websocket.scope.get("subprotocols", [])]


def _key(websocket: WebSocket) -> str | None:
    if (token := bearer(websocket)) is not None:
        return token
    for protocol in _offered(websocket):
        if protocol.startswith(KEY_SUBPROTOCOL):
            return protocol[len(KEY_SUBPROTOCOL) :]
    return websocket.query_params.get("api_key") or None


def _shape(websocket: WebSocket) -> Shape:
    beta = "realtime=v1" in websocket.headers.get("openai-beta", "").replace(" ", "")
    return "beta" if beta or BETA_SUBPROTOCOL in _offered(websocket) else "current"


async def _admit(
    websocket: WebSocket, settings: Settings, transcriber: RealtimeTranscriber
) -> tuple[SessionConfig, str]:
    """Everything checked before the upgrade (the config and the caller's project); a
    ServiceError refuses it."""
    app = websocket.app
    owner = require_key(websocket, _key(websocket))
    if app.state.draining.is_set():
        raise ShuttingDown(settings.workers.retry_after_seconds)
    intent = websocket.query_params.get("intent", "transcription")
    if intent != "transcription":
        raise InvalidRequest(
            f"this server serves transcription sessions: use intent=transcription, not {intent!r}",
            param="intent",
        )
    hub: RealtimeHub = app.state.realtime
    if hub.full():
        raise Overloaded(settings.workers.retry_after_seconds)
    if hub.project_full(owner):
        raise RateLimited("open realtime sessions of this project",
                          settings.workers.retry_after_seconds)  # fmt: skip
    limiter: RateLimiter = app.state.limiter
    websocket.scope.setdefault("state", {})
    await limiter.take(client(websocket), "requests", 1, {})
    model = websocket.query_params.get("model") or settings.stt.default_model
    config = SessionConfig(model=model)
    transcriber.validate(config)
    return config, owner


async def _refuse(websocket: WebSocket, error: ServiceError) -> None:
    """An HTTP answer instead of the upgrade (the envelope, where the server can send
    one), else a close with a code."""
    try:
        await websocket.send_denial_response(service_error_response(error))
    except RuntimeError:
        code = CLOSE_TRY_LATER if error.status_code in (429, 503) else CLOSE_POLICY
        await websocket.close(code, error.message[:120])


@router.websocket("/realtime")
async def realtime(websocket: WebSocket) -> None:
    app = websocket.app
    settings: Settings = app.state.settings
    stt: SttService = app.state.stt
    transcriber = RealtimeTranscriber(stt, settings.realtime)  # one per connection
    try:
        config, owner = await _admit(websocket, settings, transcriber)
    except SessionError as exc:
        await _refuse(websocket, InvalidRequest(exc.message, param=exc.param))
        return
    except (ServiceError, RateLimited) as exc:
        await _refuse(websocket, exc)
        return
    subprotocol = SUBPROTOCOL if SUBPROTOCOL in _offered(websocket) else None
    await websocket.accept(subprotocol=subprotocol)
    await _serve(websocket, settings, stt, transcriber, config, owner)


async def _serve(
    websocket: WebSocket, settings: Settings, stt: SttService,
    transcriber: RealtimeTranscriber, config: SessionConfig, owner: str,
) -> None:  # fmt: skip
    app = websocket.app
    hub: RealtimeHub = app.state.realtime
    limits = settings.realtime
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=limits.outbox_events)
    stalled = asyncio.Event()

    def send(event: dict[str, Any]) -> None:
        try:
            outbox.put_nowait(event)
        except asyncio.QueueFull:
            stalled.set()

    session = RealtimeSession(
        transcriber, stt.vad.stream(), config,
        session_limits(limits), send, _shape(websocket),
    )  # fmt: skip
    hub.sessions[session] = owner
    hub.opened += 1
    writer = asyncio.create_task(_write(websocket, outbox))
    session.start()
    code, reason = CLOSE_NORMAL, ""
    try:
        code, reason = await _read(websocket, session, limits.max_frame_bytes,
                                   limits.idle_timeout_seconds, stalled, send)  # fmt: skip
        if code != CLOSE_NORMAL:
            log.info("realtime session %s (project %s) closed: %s (%d)", session.id, owner,
                     reason, code)  # fmt: skip
        if code == CLOSE_RESTART:
            await session.finish(settings.shutdown_grace_seconds)
    finally:
        hub.sessions.pop(session, None)
        await session.close()
        await _flush(outbox, writer, code != CLOSE_POLICY)
        writer.cancel()
        if websocket.client_state == WebSocketState.CONNECTED and code != CLOSE_POLICY:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(websocket.close(code, reason), timeout=5)
        limiter: RateLimiter = app.state.limiter
        with contextlib.suppress(Exception):
            await limiter.charge(client(websocket), "audio-seconds", session.audio_seconds)


async def _read(
    websocket: WebSocket, session: RealtimeSession, max_frame: int, idle_seconds: float,
    stalled: asyncio.Event, send: Any,
) -> tuple[int, str]:  # fmt: skip
    """Feed frames to the session until the client leaves: (close code, reason)."""
    loop = asyncio.get_running_loop()
    last = loop.time()
    draining = websocket.app.state.draining
    receive: asyncio.Task[MutableMapping[str, Any]] | None = None
    try:
        while True:
            if stalled.is_set():
                return CLOSE_POLICY, "the client is not reading its events"
            if draining.is_set():
                return CLOSE_RESTART, "the server is restarting"
            if session.pending_turns:  # the client waits on us: not idle
                last = loop.time()
            if loop.time() - last > idle_seconds:
                send(error_event(SessionError(
                    f"no event for {idle_seconds:.0f} s; the session is closed", "idle_timeout"
                )))  # fmt: skip
                return CLOSE_NORMAL, "idle timeout"
            receive = receive or asyncio.create_task(websocket.receive())
            done, _ = await asyncio.wait({receive}, timeout=POLL_SECONDS)
            if not done:
                continue
            message, receive = receive.result(), None
            if message["type"] == "websocket.disconnect":
                return CLOSE_NORMAL, ""
            last = loop.time()
            frame = message.get("text")
            if frame is None:
                frame = message.get("bytes")
            if frame is None:
                continue
            if len(frame) > max_frame:
                send(error_event(SessionError(
                    f"a frame of {len(frame)} bytes is over the {max_frame}-byte limit; "
                    "send audio in smaller appends", "frame_too_large",
                )))  # fmt: skip
                continue
            await session.receive(frame)
            last = loop.time()  # taking a frame in may itself take a while on a busy CPU
    except WebSocketDisconnect:
        return CLOSE_NORMAL, ""
    finally:
        if receive is not None:
            receive.cancel()


async def _write(websocket: WebSocket, outbox: asyncio.Queue[dict[str, Any]]) -> None:
    with contextlib.suppress(Exception):
        while True:
            event = await outbox.get()
            await websocket.send_text(json.dumps(event, ensure_ascii=False))
            outbox.task_done()


async def _flush(
    outbox: asyncio.Queue[dict[str, Any]], writer: asyncio.Task[None], wait: bool
) -> None:
    """Let the writer send what is queued (not for a client that does not read)."""
    if not wait or writer.done():
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(outbox.join(), timeout=2)
