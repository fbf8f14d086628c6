"""Dependencies: the objects built in the lifespan, reached through app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from audio.errors import AuthenticationError
from audio.ops.keys import ApiKeys
from audio.ops.ratelimit import Budget, RateLimiter, client_identity
from audio.services.diarize import DiarizeService
from audio.services.stt import SttService
from audio.services.tts import TtsService
from audio.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_stt(request: Request) -> SttService:
    service: SttService = request.app.state.stt
    return service


def get_diarize(request: Request) -> DiarizeService:
    service: DiarizeService = request.app.state.diarize
    return service


def get_tts(request: Request) -> TtsService:
    service: TtsService = request.app.state.tts
    return service


def request_id(request: Request) -> str:
    rid: str = request.scope["state"]["request_id"]
    return rid


def bearer(request: HTTPConnection) -> str | None:
    """The `Authorization: Bearer` key, if one is sent."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require_key(request: HTTPConnection, presented: str | None) -> str:
    """The caller's project, kept on the request's state for its log lines and budgets.
    With keys configured, a missing or wrong key is a 401."""
    keys: ApiKeys = request.app.state.keys
    found = keys.project_of(presented)
    if found is None:
        raise AuthenticationError("Invalid API Key")
    request.scope.setdefault("state", {})["project"] = found
    return found


def check_api_key(request: Request) -> None:
    """Every HTTP API route: the bearer key."""
    require_key(request, bearer(request))


def project(request: HTTPConnection) -> str:
    """The project (tenant) of an authenticated request: the only one whose files and
    batches it may see."""
    name: str = request.scope["state"]["project"]
    return name


def rate_limit_headers(request: HTTPConnection) -> dict[str, str]:
    """The x-ratelimit-* headers of this request, added to its response by the middleware."""
    headers: dict[str, str] = request.scope["state"].setdefault("ratelimit", {})
    return headers


def client(request: HTTPConnection) -> str:
    """Whom a request counts against: its key's project when keys are set, else its
    address (worked out once per request; every budget it spends reuses it)."""
    state = request.scope["state"]
    if "client" not in state:
        keys: ApiKeys = request.app.state.keys
        host = request.client.host if request.client else None
        state["client"] = client_identity(state["project"] if keys.required else None, host)
    identity: str = state["client"]
    return identity


async def spend(request: Request, budget: Budget, cost: int) -> None:
    """Take `cost` from one of this client's budgets (0: check it is not spent); 429 if
    it is."""
    limiter: RateLimiter = request.app.state.limiter
    await limiter.take(client(request), budget, cost, rate_limit_headers(request))


async def charge(request: Request, budget: Budget, cost: float) -> None:
    """Count work already done against this client's budget."""
    limiter: RateLimiter = request.app.state.limiter
    await limiter.charge(client(request), budget, cost)


async def limit_requests(request: Request) -> None:
    """One request from this client's request budget (after the key check)."""
    await spend(request, "requests", 1)


API_DEPENDENCIES = [Depends(check_api_key), Depends(limit_requests)]
"""Every API route: the key first (401 before 429), then the request budget."""


SettingsDep = Annotated[Settings, Depends(get_settings)]
SttDep = Annotated[SttService, Depends(get_stt)]
TtsDep = Annotated[TtsService, Depends(get_tts)]
DiarizeDep = Annotated[DiarizeService, Depends(get_diarize)]
ProjectDep = Annotated[str, Depends(project)]
