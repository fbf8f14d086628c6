"""One transcription session: events in, turns found, text out.

Audio is kept at 16 kHz on the session's own timeline (`buffer`). With `server_vad` the
session finds each turn itself (Silero, frame by frame: `turns`); without, the client
commits. While a turn is spoken it is re-decoded every `delta_interval`, and its stable
words (`stable`) are sent as `delta` once and never taken back; the committed turn is
decoded once more for `completed` (`finals`). Interim decodes are skipped while the
decoders have other work; a committed turn is always decoded. Events are built by
`events`; this module only dispatches and orchestrates.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from common.ids import new_id
from common.pcm import SAMPLE_RATE, Float32Pcm
from realtime import events
from realtime.buffer import AudioBuffer
from realtime.codec import Resampler, decode_base64, to_samples
from realtime.errors import SessionError
from realtime.events import CONVERSATION_EVENTS, Event, apply_update, error_event, parse_frame
from realtime.finals import Finals
from realtime.interim import InterimText
from realtime.turns import TurnDetector
from realtime.types import (
    FORMAT_RATES,
    SessionConfig,
    SessionLimits,
    Shape,
    TurnDetection,
    TurnTranscriber,
)
from segmenter.constants import FRAME_SAMPLES

MIN_COMMIT_SECONDS = 0.1
"""A commit needs at least this much audio (OpenAI's rule)."""


class FrameScorer(Protocol):
    """A streaming VAD: one speech probability per FRAME_SAMPLES frame, in order."""

    def push(self, samples: Float32Pcm) -> npt.NDArray[np.float32]: ...


Send = Callable[[Event], None]
"""Hands a server event to the connection (never blocks; the connection bounds it)."""


class RealtimeSession:
    def __init__(
        self, transcriber: TurnTranscriber, scorer: FrameScorer, config: SessionConfig,
        limits: SessionLimits, send: Send, shape: Shape = "current",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.id = new_id("sess")
        self.config = config
        self.shape: Shape = shape
        self.limits = limits
        self._transcriber = transcriber
        self._scorer = scorer
        self._send_event = send
        self._clock = clock
        self._resampler = Resampler(config.input_format)
        self._buffer = AudioBuffer()
        self._turns = TurnDetector()
        self._finals = Finals(transcriber, self._send, limits.max_pending_turns, self._charge)
        self._input_seconds = 0.0
        """Seconds of audio appended (at the input rate, before resampling)."""
        self._first_audio_at: float | None = None
        self._previous_item: str | None = None
        self._overflowed = False
        self._interims: asyncio.Task[None] | None = None
        self.closed = False
        self.audio_seconds = 0.0
        """Seconds of committed turns (what rate limits charge)."""

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Send `session.created` and start the interim decoder."""
        self._send(events.session_event(self.id, self.config, self.shape, updated=False))
        interim = InterimText(self._transcriber, self._turns, self._buffer, self.limits,
                              lambda: self.config, self._send)  # fmt: skip
        self._interims = asyncio.create_task(interim.run(lambda: self.closed))

    async def finish(self, timeout: float) -> None:
        """Wait (up to `timeout`) for committed turns to be answered (a drain)."""
        await self._finals.finish(timeout)

    async def close(self) -> None:
        """Stop: queued decodes are dropped, nothing more is sent."""
        self.closed = True
        tasks = [t for t in (self._interims, *self._finals.tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def pending_turns(self) -> int:
        return len(self._finals.tasks)

    def _charge(self, seconds: float) -> None:
        self.audio_seconds += seconds

    # -- client events ----------------------------------------------------------
    async def receive(self, frame: str | bytes) -> None:
        """Take one client frame; any problem is an `error` event, never an exception."""
        event: Event | None = None
        try:
            event = parse_frame(frame)
            await self._dispatch(event)
        except SessionError as error:
            client_id = event.get("event_id") if event else None
            self._send(error_event(error, client_id if isinstance(client_id, str) else None))

    async def _dispatch(self, event: Event) -> None:
        kind = event["type"]
        if kind in ("session.update", "transcription_session.update"):
            self._update(event)
        elif kind == "input_audio_buffer.append":
            await self._append(event.get("audio"))
        elif kind == "input_audio_buffer.commit":
            self._client_commit()
        elif kind == "input_audio_buffer.clear":
            self._forget_turn(self._buffer.received)
            self._send(events.cleared())
        elif kind in CONVERSATION_EVENTS:
            raise SessionError(
                f"`{kind}` is a conversation event; this is a transcription session",
                "unsupported_event",
                "type",
            )
        else:
            raise SessionError(f"unknown event type {kind!r}", "unknown_event", "type")

    def _update(self, event: Event) -> None:
        config, shape = apply_update(event, self.config)
        self._transcriber.validate(config)
        if config.input_format != self.config.input_format:
            self._resampler = Resampler(config.input_format)
        self.config, self.shape = config, shape
        self._send(events.session_event(self.id, config, shape, updated=True))

    async def _append(self, audio: object) -> None:
        samples = to_samples(decode_base64(audio), self.config.input_format)
        seconds = samples.shape[0] / FORMAT_RATES[self.config.input_format]
        now = self._clock()
        if self._first_audio_at is None:
            self._first_audio_at = now
        ahead = self._input_seconds + seconds - (now - self._first_audio_at)
        if ahead > self.limits.max_ahead_seconds:
            raise SessionError(
                f"audio is arriving faster than real time ({ahead:.1f} s ahead; at most "
                f"{self.limits.max_ahead_seconds:.0f} s): this frame was dropped",
                "audio_too_fast",
                "audio",
            )
        self._input_seconds += seconds
        pcm = self._resampler.push(samples)
        if pcm.shape[0] == 0:
            return
        first_frame = self._buffer.received // FRAME_SAMPLES
        probs = await asyncio.to_thread(self._scorer.push, pcm)
        self._buffer.append(pcm)
        for offset, prob in enumerate(probs.tolist()):
            self._on_frame(first_frame + offset, prob)
        self._bound_buffer()

    # -- turns --------------------------------------------------------------------
    def _on_frame(self, index: int, prob: float) -> None:
        detection = self.config.turn_detection
        change = self._turns.frame(
            index, prob, detection, self._buffer.start, self._padding(),
            int(self.limits.max_turn_seconds * SAMPLE_RATE),
        )  # fmt: skip
        if change is None or detection is None:
            return
        kind, turn, sample = change
        if kind == "started":
            self._send(events.speech_started(turn.item_id, _ms(sample)))
        else:
            self._send(events.speech_stopped(turn.item_id, _ms(sample)))
            self._commit(turn.item_id, turn.start, sample, turn.sent)

    def _client_commit(self) -> None:
        turn, received = self._turns.turn, self._buffer.received
        start = turn.start if turn else self._buffer.start
        seconds = (received - start) / SAMPLE_RATE
        if seconds < MIN_COMMIT_SECONDS:
            raise SessionError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_SECONDS * 1000:.0f}ms of audio, but buffer only has "
                f"{seconds * 1000:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        item_id = turn.item_id if turn else new_id("item")
        self._commit(item_id, start, received, turn.sent if turn else [])

    def _commit(self, item_id: str, start: int, end: int, sent: list[str]) -> None:
        """The turn [start, end) is done: announce it, and decode it in the background."""
        audio = self._buffer.slice(start, end)
        self._forget_turn(end)
        self._send(events.committed(item_id, self._previous_item))
        self._previous_item = item_id
        self._finals.submit(item_id, audio, sent, self.config)

    def _forget_turn(self, before: int) -> None:
        self._buffer.drop_before(before)
        self._turns.turn = None
        self._overflowed = False

    # -- the buffer -----------------------------------------------------------------
    def _padding(self) -> int:
        """Samples kept before speech (the default padding when the client commits)."""
        detection = self.config.turn_detection or TurnDetection()
        return int(detection.prefix_padding_ms * SAMPLE_RATE / 1000)

    def _bound_buffer(self) -> None:
        """Within a turn at most `max_buffer_seconds` are kept (telling the client once)."""
        turn = self._turns.turn
        limit = int(self.limits.max_buffer_seconds * SAMPLE_RATE)
        if not self._buffer.bound(turn is not None, self._padding(), FRAME_SAMPLES, limit):
            return
        if turn is not None and turn.start < self._buffer.start:
            turn.start = self._buffer.start
        if not self._overflowed:
            self._overflowed = True
            self._send(error_event(SessionError(
                f"the input audio buffer holds more than {self.limits.max_buffer_seconds:.0f} s "
                "without a commit; older audio is being dropped",
                "input_audio_buffer_overflow",
            )))  # fmt: skip

    # -- out ------------------------------------------------------------------------
    def _send(self, event: Event) -> None:
        if self.closed:
            return
        self._send_event({"event_id": new_id("event"), **event})


def _ms(sample: int) -> int:
    return int(sample * 1000 // SAMPLE_RATE)
