"""GET /health, /ready, /metrics (unprefixed extensions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from audio.api.deps import SttDep

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, Any]:
    return {"status": "ok"}


_STATUS = {"application/json": {"schema": {"type": "object", "required": ["status"]}}}


@router.get(
    "/ready",
    responses={
        200: {"description": "Serving", "content": _STATUS},
        503: {"description": "Draining, or the default model is not installed", "content": _STATUS},
    },
)
async def ready(request: Request, stt: SttDep) -> JSONResponse:
    default = stt.settings.stt.default_model
    if request.app.state.draining.is_set():
        return JSONResponse({"status": "draining", "default_model": default}, status_code=503)
    installed = stt.registry.is_installed(default)
    body = {"status": "ready" if installed else "not_ready", "default_model": default}
    return JSONResponse(body, status_code=200 if installed else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
