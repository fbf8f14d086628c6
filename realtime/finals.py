"""Committed turns being transcribed: each decoded once in the background, answered in
turn order, at most `limit` waiting (one more is answered `failed` at once)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from common.pcm import SAMPLE_RATE, Float32Pcm
from realtime.errors import ServerBusy, SessionError
from realtime.events import Event, transcript_completed, transcript_delta, transcript_failed
from realtime.stable import rest_of_final, words
from realtime.types import SessionConfig, TurnText, TurnTranscriber

log = logging.getLogger(__name__)


class Finals:
    """The final decodes of one session."""

    def __init__(
        self, transcriber: TurnTranscriber, send: Callable[[Event], None], limit: int,
        charge: Callable[[float], None],
    ) -> None:  # fmt: skip
        self._transcriber = transcriber
        self._send = send
        self._limit = limit
        self._charge = charge
        """Told the seconds of each turn answered (what rate limits charge)."""
        self._last: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def submit(
        self, item_id: str, audio: Float32Pcm, sent: list[str], config: SessionConfig
    ) -> None:
        """Decode a committed turn (`sent`: its words already sent as deltas)."""
        if len(self.tasks) >= self._limit:
            self._send(transcript_failed(item_id, ServerBusy(
                f"{len(self.tasks)} turns are still being transcribed; this one was dropped",
                "server_busy",
            )))  # fmt: skip
            return
        task = asyncio.create_task(self._final(item_id, audio, list(sent), self._last, config))
        self._last = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _final(
        self, item_id: str, audio: Float32Pcm, sent: list[str],
        before: asyncio.Task[None] | None, config: SessionConfig,
    ) -> None:  # fmt: skip
        result: TurnText | SessionError
        try:
            result = await self._transcriber.transcribe(audio, config, final=True)
        except SessionError as error:
            result = error
        except Exception:
            log.exception("realtime: a turn failed")
            result = SessionError("the turn could not be transcribed", "server_error")
        if before is not None:  # answers go out in turn order
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(before)
        if isinstance(result, SessionError):
            self._send(transcript_failed(item_id, result))
            return
        rest = rest_of_final(words(result.text), sent)
        if rest is not None:
            self._send(transcript_delta(item_id, rest))
        seconds = audio.shape[0] / SAMPLE_RATE
        self._charge(seconds)
        self._send(transcript_completed(item_id, result.text, result.language, seconds))

    async def finish(self, timeout: float) -> None:
        """Wait (up to `timeout`) for the committed turns to be answered (a drain)."""
        pending = set(self.tasks)
        if pending:
            await asyncio.wait(pending, timeout=timeout)
