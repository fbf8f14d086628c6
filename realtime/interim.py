"""Interim text: the turn being spoken re-decoded on a fixed beat, its stable words sent
as `delta` once (`stable`). Skipped while the decoders have other work."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from common.pcm import SAMPLE_RATE
from realtime.buffer import AudioBuffer
from realtime.errors import SessionError
from realtime.events import Event, transcript_delta
from realtime.stable import PAUSE_SECONDS, stable, words
from realtime.turns import TurnDetector
from realtime.types import SessionConfig, SessionLimits, TurnTranscriber

MIN_NEW_INTERIM_SECONDS = 0.25
"""An interim decode waits until at least this much new audio has arrived."""


class InterimText:
    """The interim decodes of one session."""

    def __init__(
        self, transcriber: TurnTranscriber, turns: TurnDetector, buffer: AudioBuffer,
        limits: SessionLimits, config: Callable[[], SessionConfig],
        send: Callable[[Event], None],
    ) -> None:  # fmt: skip
        self._transcriber = transcriber
        self._turns = turns
        self._buffer = buffer
        self._limits = limits
        self._config = config
        """The session's configuration now."""
        self._send = send

    async def run(self, closed: Callable[[], bool]) -> None:
        """Re-decode the turn being spoken on a fixed beat (a decode that overruns its beat
        starts the next one at once; none overlap) until the session is closed."""
        loop = asyncio.get_running_loop()
        beat = self._limits.delta_interval_seconds
        due = loop.time()
        while not closed():
            due = max(due + beat, loop.time())
            await asyncio.sleep(due - loop.time())
            await self.step()

    async def step(self) -> None:
        turn, end = self._turns.turn, self._buffer.received
        if turn is None or self._transcriber.busy():
            return
        if end - max(turn.decoded_to, turn.start) < MIN_NEW_INTERIM_SECONDS * SAMPLE_RATE:
            return
        audio = self._buffer.slice(turn.start, end)
        if audio.shape[0] > self._limits.max_turn_seconds * SAMPLE_RATE:
            return
        try:
            result = await self._transcriber.transcribe(audio, self._config(), final=False)
        except SessionError:
            return  # interim text is best effort; the final decode reports errors
        turn.decoded_to = end
        if self._turns.turn is not turn:
            return  # committed or cleared meanwhile
        decoded = words(result.text)
        paused = end - turn.last_voice >= PAUSE_SECONDS * SAMPLE_RATE
        count = stable(decoded, turn.hypothesis, paused)
        turn.hypothesis = decoded
        if count > len(turn.sent):
            # What lies past the words already sent goes out; an earlier word that changed
            # since is not taken back (the completed transcript is the final decode's).
            text = " ".join(decoded[len(turn.sent) : count])
            self._send(transcript_delta(turn.item_id, (" " if turn.sent else "") + text))
            turn.sent = turn.sent + decoded[len(turn.sent) : count]
