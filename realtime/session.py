"""One transcription session: events in, turns found, text out.

Audio is kept at 16 kHz on the session's own timeline (samples since the first append).
With `server_vad` the session finds each turn itself (Silero, frame by frame); without,
the client commits. While a turn is spoken it is re-decoded every `delta_interval`; words
two decodes in a row agree on, and all but the newest decode's last word, are sent
as `delta` once and never taken back; the committed turn is decoded once more for
`completed`. Interim decodes
are skipped while the decoders have other work; a committed turn is always decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from common.pcm import SAMPLE_RATE, Float32Pcm
from realtime.codec import Resampler, decode_base64, to_samples
from realtime.errors import ServerBusy, SessionError
from realtime.events import (
    CONVERSATION_EVENTS,
    Event,
    apply_update,
    error_event,
    new_id,
    parse_frame,
    session_object,
)
from realtime.types import (
    FORMAT_RATES,
    SessionConfig,
    SessionLimits,
    Shape,
    TurnDetection,
    TurnText,
    TurnTranscriber,
)
from segmenter.constants import FRAME_SAMPLES

log = logging.getLogger(__name__)

MIN_COMMIT_SECONDS = 0.1
"""A commit needs at least this much audio (OpenAI's rule)."""
MIN_NEW_INTERIM_SECONDS = 0.25
"""An interim decode waits until at least this much new audio has arrived."""
HELD_BACK_WORDS = 1
"""An interim decode's last word waits for the next decode (the end of the audio may cut
it, and Whisper revises the last word most) ..."""
PAUSE_SECONDS = 0.1
"""... unless the audio decoded ends in a pause this long (the VAD's frames): then the
last word is whole, and it goes out at once."""
SPEECH_HOLD = 0.15
"""Inside speech, a frame counts as speech down to `threshold - SPEECH_HOLD` (Silero's own
hysteresis), so one weak frame does not end a turn."""


class FrameScorer(Protocol):
    """A streaming VAD: one speech probability per FRAME_SAMPLES frame, in order."""

    def push(self, samples: Float32Pcm) -> npt.NDArray[np.float32]: ...


Send = Callable[[Event], None]
"""Hands a server event to the connection (never blocks; the connection bounds it)."""


def _words(text: str) -> list[str]:
    return text.split()


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def _agreed(a: list[str], b: list[str]) -> int:
    """How many leading words two hypotheses share (ignoring case and punctuation)."""
    n = 0
    while n < min(len(a), len(b)) and _norm(a[n]) == _norm(b[n]):
        n += 1
    return n


@dataclass
class _Turn:
    """The turn being spoken (or buffered, without server VAD)."""

    item_id: str
    start: int
    """First sample of the turn's audio (speech start minus the prefix padding)."""
    last_voice: int
    """End of its last speech frame."""
    sent: list[str] = field(default_factory=list)
    """Words already sent as deltas."""
    hypothesis: list[str] = field(default_factory=list)
    """The last interim decode's words."""
    decoded_to: int = 0
    """Turn audio end of the last interim decode."""


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
        self._chunks: list[Float32Pcm] = []
        self._buffer_start = 0
        """Session sample index of the first buffered sample."""
        self._received = 0
        """Samples (16 kHz) received so far."""
        self._input_seconds = 0.0
        """Seconds of audio appended (at the input rate, before resampling)."""
        self._first_audio_at: float | None = None
        self._turn: _Turn | None = None
        self._previous_item: str | None = None
        self._last_final: asyncio.Task[None] | None = None
        self._finals: set[asyncio.Task[None]] = set()
        self._overflowed = False
        self._interims: asyncio.Task[None] | None = None
        self.closed = False
        self.audio_seconds = 0.0
        """Seconds of committed turns (what rate limits charge)."""

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        """Send `session.created` (the beta event for a beta client) and start the
        interim decoder."""
        kind = "transcription_session.created" if self.shape == "beta" else "session.created"
        self._send({"type": kind, "session": session_object(self.id, self.config, self.shape)})
        self._interims = asyncio.create_task(self._interim_loop())

    async def finish(self, timeout: float) -> None:
        """Wait (up to `timeout`) for committed turns to be answered (a drain)."""
        pending = set(self._finals)
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def close(self) -> None:
        """Stop: queued decodes are dropped, nothing more is sent."""
        self.closed = True
        tasks = [t for t in (self._interims, *self._finals) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def pending_turns(self) -> int:
        return len(self._finals)

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
            self._clear()
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
        kind = "transcription_session.updated" if shape == "beta" else "session.updated"
        self._send({"type": kind, "session": session_object(self.id, config, shape)})

    async def _append(self, audio: object) -> None:
        raw = decode_base64(audio)
        samples = to_samples(raw, self.config.input_format)
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
        first_frame = self._received // FRAME_SAMPLES
        probs = await asyncio.to_thread(self._scorer.push, pcm)
        self._chunks.append(pcm)
        self._received += pcm.shape[0]
        for offset, prob in enumerate(probs.tolist()):
            self._on_frame(first_frame + offset, prob)
        self._bound_buffer()

    # -- turns --------------------------------------------------------------------
    def _on_frame(self, index: int, prob: float) -> None:
        detection = self.config.turn_detection
        threshold = detection.threshold if detection else 0.5
        end = (index + 1) * FRAME_SAMPLES
        turn = self._turn
        if turn is None:
            if prob < threshold:
                return
            start = max(self._buffer_start, index * FRAME_SAMPLES - self._padding())
            turn = self._turn = _Turn(new_id("item"), start, end)
            if detection is not None:
                self._send({
                    "type": "input_audio_buffer.speech_started",
                    "audio_start_ms": _ms(start), "item_id": turn.item_id,
                })  # fmt: skip
            return
        if prob >= max(0.01, threshold - SPEECH_HOLD):
            turn.last_voice = end
        if detection is None:
            return
        silence = end - turn.last_voice
        too_long = end - turn.start >= self.limits.max_turn_seconds * SAMPLE_RATE
        if silence >= detection.silence_duration_ms * SAMPLE_RATE / 1000 or too_long:
            self._send({
                "type": "input_audio_buffer.speech_stopped",
                "audio_end_ms": _ms(end), "item_id": turn.item_id,
            })  # fmt: skip
            self._commit(turn.item_id, turn.start, end, turn.sent)

    def _client_commit(self) -> None:
        start = self._turn.start if self._turn else self._buffer_start
        seconds = (self._received - start) / SAMPLE_RATE
        if seconds < MIN_COMMIT_SECONDS:
            raise SessionError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_SECONDS * 1000:.0f}ms of audio, but buffer only has "
                f"{seconds * 1000:.2f}ms of audio.",
                "input_audio_buffer_commit_empty",
            )
        item_id = self._turn.item_id if self._turn else new_id("item")
        sent = self._turn.sent if self._turn else []
        self._commit(item_id, start, self._received, sent)

    def _commit(self, item_id: str, start: int, end: int, sent: list[str]) -> None:
        """The turn [start, end) is done: announce it, and decode it in the background."""
        audio = self._slice(start, end)
        self._drop_before(end)
        self._turn = None
        self._overflowed = False
        self._send({
            "type": "input_audio_buffer.committed",
            "previous_item_id": self._previous_item, "item_id": item_id,
        })  # fmt: skip
        self._previous_item = item_id
        if len(self._finals) >= self.limits.max_pending_turns:
            self._send(_failed(item_id, ServerBusy(
                f"{len(self._finals)} turns are still being transcribed; this one was dropped",
                "server_busy",
            )))  # fmt: skip
            return
        task = asyncio.create_task(
            self._final(item_id, audio, list(sent), self._last_final, self.config)
        )
        self._last_final = task
        self._finals.add(task)
        task.add_done_callback(self._finals.discard)

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
            self._send(_failed(item_id, result))
            return
        words = _words(result.text)
        if len(words) > len(sent) and _agreed(words, sent) == len(sent):
            rest = " ".join(words[len(sent) :])
            self._delta(item_id, (" " if sent else "") + rest)
        seconds = audio.shape[0] / SAMPLE_RATE
        self.audio_seconds += seconds
        self._send({
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id, "content_index": 0, "transcript": result.text,
            "usage": {"type": "duration", "seconds": round(seconds, 3)},
            "languages": [{"code": result.language}], "logprobs": None,
        })  # fmt: skip

    def _clear(self) -> None:
        self._drop_before(self._received)
        self._turn = None
        self._overflowed = False
        self._send({"type": "input_audio_buffer.cleared"})

    # -- interim text ---------------------------------------------------------------
    async def _interim_loop(self) -> None:
        """Re-decode the turn being spoken on a fixed beat (a decode that overruns its beat
        starts the next one at once; none overlap)."""
        loop = asyncio.get_running_loop()
        beat = self.limits.delta_interval_seconds
        due = loop.time()
        while not self.closed:
            due = max(due + beat, loop.time())
            await asyncio.sleep(due - loop.time())
            turn = self._turn
            if turn is None or self._transcriber.busy():
                continue
            if (
                self._received - max(turn.decoded_to, turn.start)
                < MIN_NEW_INTERIM_SECONDS * SAMPLE_RATE
            ):
                continue
            end = self._received
            audio = self._slice(turn.start, end)
            if audio.shape[0] > self.limits.max_turn_seconds * SAMPLE_RATE:
                continue
            try:
                result = await self._transcriber.transcribe(audio, self.config, final=False)
            except SessionError:
                continue  # interim text is best effort; the final decode reports errors
            turn.decoded_to = end
            if self._turn is not turn:
                continue  # committed or cleared meanwhile
            words = _words(result.text)
            paused = end - turn.last_voice >= PAUSE_SECONDS * SAMPLE_RATE
            held = 0 if paused else HELD_BACK_WORDS
            stable = max(_agreed(words, turn.hypothesis), len(words) - held)
            turn.hypothesis = words
            if stable > len(turn.sent):
                # Stable: what two decodes in a row agree on, and anything but the newest
                # decode's last words (those the audio may still cut or change). What lies
                # past the words already sent goes out; an earlier word that changed since
                # is not taken back (the completed transcript is the final decode's).
                text = " ".join(words[len(turn.sent) : stable])
                self._delta(turn.item_id, (" " if turn.sent else "") + text)
                turn.sent = turn.sent + words[len(turn.sent) : stable]

    def _delta(self, item_id: str, text: str) -> None:
        self._send({
            "type": "conversation.item.input_audio_transcription.delta",
            "item_id": item_id, "content_index": 0, "delta": text, "logprobs": None,
        })  # fmt: skip

    # -- the buffer -----------------------------------------------------------------
    def _padding(self) -> int:
        """Samples kept before speech (the default padding when the client commits)."""
        detection = self.config.turn_detection or TurnDetection()
        return int(detection.prefix_padding_ms * SAMPLE_RATE / 1000)

    def _slice(self, start: int, end: int) -> Float32Pcm:
        if not self._chunks:
            return np.zeros(0, np.float32)
        audio = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        self._chunks = [audio]
        return audio[max(0, start - self._buffer_start) : max(0, end - self._buffer_start)].copy()

    def _drop_before(self, sample: int) -> None:
        """Forget buffered audio before session sample `sample`."""
        if sample <= self._buffer_start:
            return
        if not self._chunks:
            self._buffer_start = sample
            return
        audio = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        cut = min(sample - self._buffer_start, audio.shape[0])
        rest = audio[cut:]
        self._chunks = [rest] if rest.shape[0] else []
        self._buffer_start += cut

    def _bound_buffer(self) -> None:
        """Keep what a turn may still need: before any speech only the prefix padding (the
        rest is silence by the VAD, with or without server turn detection); within a turn
        at most `max_buffer_seconds` (telling the client once)."""
        if self._turn is None:
            self._drop_before(self._received - self._padding() - FRAME_SAMPLES)
            return
        limit = int(self.limits.max_buffer_seconds * SAMPLE_RATE)
        if self._received - self._buffer_start <= limit:
            return
        self._drop_before(self._received - limit)
        if self._turn is not None and self._turn.start < self._buffer_start:
            self._turn.start = self._buffer_start
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


def _failed(item_id: str, error: SessionError) -> dict[str, Any]:
    return {
        "type": "conversation.item.input_audio_transcription.failed",
        "item_id": item_id,
        "content_index": 0,
        "error": {
            "type": error.error_type, "code": error.code, "message": error.message,
            "param": error.param,
        },
    }  # fmt: skip
