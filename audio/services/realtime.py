"""The realtime room's seam, implemented on the STT service (and its errors mapped)."""

from __future__ import annotations

from audio.errors import RetryLater, ServiceError, as_service_error
from audio.services.stt import SttService
from audio.settings import RealtimeSettings
from common.pcm import Float32Pcm
from realtime.errors import ServerBusy, SessionError
from realtime.session import RealtimeSession
from realtime.types import SessionConfig, SessionLimits, TurnText
from transcriber.errors import TranscriberError
from transcriber.languages import LANGUAGES
from transcriber.utterance import TurnPolicy

MODEL_PARAM = "session.audio.input.transcription.model"


def session_limits(settings: RealtimeSettings) -> SessionLimits:
    return SessionLimits(
        max_buffer_seconds=settings.max_buffer_seconds,
        max_ahead_seconds=settings.max_ahead_seconds,
        delta_interval_seconds=settings.delta_interval_ms / 1000,
        max_pending_turns=settings.max_pending_turns,
    )


def session_error(exc: ServiceError, param: str | None = None) -> SessionError:
    """A service error as the session reports it."""
    kind = ServerBusy if isinstance(exc, RetryLater) else SessionError
    return kind(exc.message, exc.code or exc.error_type, param or exc.param)


class RealtimeTranscriber:
    """A `TurnTranscriber`: turns go through the model's batcher as short requests."""

    def __init__(self, stt: SttService, settings: RealtimeSettings) -> None:
        self._stt = stt
        self._beam_size = settings.beam_size

    def validate(self, config: SessionConfig) -> None:
        try:
            self._stt.resolve(config.model)
        except (ServiceError, TranscriberError) as exc:
            error = as_service_error(exc)
            assert error is not None
            raise session_error(error, MODEL_PARAM) from exc
        if config.language is not None and config.language not in LANGUAGES:
            raise SessionError(
                f"language {config.language!r} is not supported; use an ISO-639-1 code such "
                "as 'en', 'de', 'ar'",
                "invalid_value",
                "session.audio.input.transcription.language",
            )

    def busy(self) -> bool:
        return self._stt.busy()

    async def transcribe(self, audio: Float32Pcm, config: SessionConfig, final: bool) -> TurnText:
        try:
            resolved = self._stt.resolve(config.model)
            utterance = await self._stt.transcribe_turn(
                audio, resolved, config.language, config.prompt,
                TurnPolicy.of(final, self._beam_size),
            )  # fmt: skip
        except (ServiceError, TranscriberError) as exc:
            error = as_service_error(exc)
            assert error is not None
            raise session_error(error) from exc
        return TurnText(utterance.text, utterance.language)


class RealtimeHub:
    """The open sessions (bounded, in all and per project), built with the app's runtime."""

    def __init__(self, max_sessions: int, per_project: int | None = None) -> None:
        self.max_sessions = max_sessions
        self.per_project = per_project
        self.sessions: dict[RealtimeSession, str] = {}
        """Each open session -> its project."""
        self.opened = 0

    def full(self) -> bool:
        return len(self.sessions) >= self.max_sessions

    def project_full(self, project: str) -> bool:
        if self.per_project is None:
            return False
        return sum(1 for owner in self.sessions.values() if owner == project) >= self.per_project
