"""Pure ASGI middleware: request ids, body-size limit, last-resort 500.

Pure ASGI (not BaseHTTPMiddleware) so bodies stream through untouched and an
oversized upload is refused as it arrives, never read whole into memory.
"""

from __future__ import annotations

import logging
import re
import threading
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from audio.api.errors import internal_error_response, service_error_response
from audio.errors import ClientDisconnected, RequestTooLarge, ShuttingDown
from common.ids import new_request_id

log = logging.getLogger(__name__)

ALWAYS_ANSWERED = frozenset({"/health", "/ready", "/metrics"})
"""Paths answered while draining (/ready itself says 503 then)."""
FORM_OVERHEAD_BYTES = 1 << 20
"""Room for multipart boundaries and text fields on top of the file limit."""


KEYS_IN_TEXT = (
    (re.compile(r"(api_key=)[^&\s\"']+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(authorization:\s*)[^\r\n]+", re.IGNORECASE), r"\1***"),
    (re.compile(r"(openai-insecure-api-key\.)[^,\s\"']+", re.IGNORECASE), r"\1***"),
)
"""Where a key shows in a request line or a header dump: a realtime client's query string
(browsers cannot set headers), its subprotocol, and the authorization header."""
SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")
"""uvicorn's loggers, which write request lines with their query strings."""


class HideKeysFilter(logging.Filter):
    """Blanks keys in a log line (uvicorn logs a WebSocket's whole path, and at debug
    level its headers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = hidden = record.getMessage()
        for pattern, replacement in KEYS_IN_TEXT:
            hidden = pattern.sub(replacement, hidden)
        if hidden != text:
            record.msg, record.args = hidden, ()
        return True


def hide_keys_in_server_logs() -> None:
    """Keep keys out of uvicorn's request lines (once per process)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, HideKeysFilter) for f in logger.filters):
            logger.addFilter(HideKeysFilter())


class RequestContextMiddleware:
    """Gives every request an id (`x-request-id`), caps the body, never leaks a trace."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, draining: threading.Event,
        larger_bodies: dict[str, int] | None = None,
    ) -> None:  # fmt: skip
        self.app = app
        self.max_file_bytes = max_body_bytes
        self.larger_bodies = larger_bodies or {}
        """Path suffix -> its own body limit (the Files API takes bigger uploads)."""
        self.draining = draining
        """Set on SIGTERM: new requests get 503 (health and metrics still answer)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                limits = scope["state"].get("ratelimit", {})
                headers += [(k.encode(), v.encode()) for k, v in limits.items()]
                message = {**message, "headers": headers}
            await send(message)

        if self.draining.is_set() and scope["path"] not in ALWAYS_ANSWERED:
            response = service_error_response(ShuttingDown())
            response.headers["connection"] = "close"
            await response(scope, receive, send_with_id)
            return
        file_limit = next(
            (limit for suffix, limit in self.larger_bodies.items()
             if scope["path"].endswith(suffix)), self.max_file_bytes,
        )  # fmt: skip
        body_limit = file_limit + FORM_OVERHEAD_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > body_limit:
            # Answer from the header alone; the body is never read.
            response = service_error_response(RequestTooLarge(file_limit))
            await response(scope, receive, send_with_id)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > body_limit:
                    raise RequestTooLarge(file_limit)
            return message

        try:
            await self.app(scope, limited_receive, send_with_id)
        except RequestTooLarge as exc:
            if not started:
                await service_error_response(exc)(scope, receive, send_with_id)
        except ClientDisconnect:
            log.info("client left during request %s (project %s)", request_id, _project(scope))
        except Exception:
            log.exception("unhandled error in request %s (project %s)", request_id,
                          _project(scope))  # fmt: skip
            if not started:
                await internal_error_response(request_id)(scope, receive, send_with_id)


def _project(scope: Scope) -> str:
    """The request's project, once its key was checked ('-' before)."""
    return str(scope.get("state", {}).get("project", "-"))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class MetricsMiddleware:
    """Counts requests by matched route and status; times them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except ClientDisconnect:
            status = ClientDisconnected.status_code  # left mid-upload (counted, never sent)
            raise
        finally:
            metrics = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                route = getattr(scope.get("route"), "path", "unmatched")
                metrics.requests.labels(route, str(status)).inc()
                metrics.latency.labels(route).observe(time.perf_counter() - started)
