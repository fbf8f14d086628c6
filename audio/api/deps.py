"""Dependencies: the objects built in the lifespan, reached through app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from audio.errors import AuthenticationError
from audio.keys import ApiKeys
from audio.settings import Settings
from audio.stt_service import SttService
from audio.tts_service import TtsService


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_stt(request: Request) -> SttService:
    service: SttService = request.app.state.stt
    return service


def get_tts(request: Request) -> TtsService:
    service: TtsService = request.app.state.tts
    return service


def request_id(request: Request) -> str:
    rid: str = request.scope["state"]["request_id"]
    return rid


def check_api_key(request: Request) -> None:
    """With keys configured, a missing or wrong bearer key is a 401."""
    keys: ApiKeys = request.app.state.keys
    if not keys.required:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not keys.accepts(token.strip()):
        raise AuthenticationError("Invalid API Key")


SettingsDep = Annotated[Settings, Depends(get_settings)]
SttDep = Annotated[SttService, Depends(get_stt)]
TtsDep = Annotated[TtsService, Depends(get_tts)]
