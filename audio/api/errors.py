"""Map every error to the contract's envelope: {"error": {message, type, param, code}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from audio.errors import InternalError, ServiceError, as_service_error
from common.errors import error_body
from jobs.errors import JobError
from transcriber.errors import TranscriberError

log = logging.getLogger(__name__)


def service_error_response(exc: ServiceError) -> JSONResponse:
    headers = {}
    if exc.retry_after is not None:
        headers["retry-after"] = str(exc.retry_after)
        headers["retry-after-ms"] = str(exc.retry_after * 1000)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)


def internal_error_response(request_id: str) -> JSONResponse:
    return service_error_response(InternalError(request_id))


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    error = as_service_error(exc)
    assert error is not None
    return service_error_response(error)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    error_type = "invalid_request_error" if exc.status_code < 500 else "server_error"
    return JSONResponse(
        error_body(str(exc.detail), error_type, None, code),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(loc) or None
    message = f"{param}: {first.get('msg', 'invalid value')}" if param else "invalid request"
    return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(TranscriberError, _service_error)
    app.add_exception_handler(JobError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
