"""The realtime room's seam, implemented on the STT service (and its errors mapped)."""

from __future__ import annotations

from audio.errors import RetryLater, ServiceError, as_service_error
from audio.languages import LANGUAGES
from audio.settings import RealtimeSettings
from audio.stt_service import SttService
from common.pcm import Float32Pcm
from realtime.errors import ServerBusy, SessionError
from realtime.types import SessionConfig, SessionLimits, TurnText
from transcriber.chunked import UTTERANCE_MIN_FRAMES
from transcriber.errors import TranscriberError

MODEL_PARAM = "session.audio.input.transcription.model"
INTERIM_MIN_FRAMES = 600
"""Interim decodes of a turn being spoken encode at least 6 s (finals at least 10 s): the
first words of a turn come sooner, and a loop in an interim shows only as a late delta."""
INTERIM_TOKENS_PER_SECOND = 6.0
"""Interim decodes stop at this many tokens per encoded second (twice the turn's length:
about 12 per second of speech, where people say 3-5): a greedy decode that loops ends in
time instead of running to the model's limit and holding the next deltas back."""


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
                self._beam_size if final else 1,
                UTTERANCE_MIN_FRAMES if final else INTERIM_MIN_FRAMES,
                None if final else INTERIM_TOKENS_PER_SECOND,
            )  # fmt: skip
        except (ServiceError, TranscriberError) as exc:
            error = as_service_error(exc)
            assert error is not None
            raise session_error(error) from exc
        return TurnText(utterance.text, utterance.language)
