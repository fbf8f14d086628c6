"""Types of a realtime session: its configuration, limits, and the transcriber seam."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from common.pcm import Float32Pcm

InputFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]
"""Audio a client may append, by its beta-shape name."""
FORMAT_RATES: dict[InputFormat, int] = {"pcm16": 24_000, "g711_ulaw": 8_000, "g711_alaw": 8_000}
"""Each input format's sample rate (OpenAI's: 24 kHz PCM, 8 kHz G.711)."""
Shape = Literal["current", "beta"]
"""Which configuration shape the client speaks: `session.update` with
`session.type = "transcription"`, or the beta `transcription_session.update`."""


@dataclass(frozen=True)
class TurnDetection:
    """`server_vad`: the server ends a turn after this much silence."""

    threshold: float = 0.5
    """Speech probability (Silero) that starts speech."""
    prefix_padding_ms: int = 300
    """Audio kept before the detected start of speech."""
    silence_duration_ms: int = 500
    """Silence this long ends the turn (and is part of its audio)."""


@dataclass(frozen=True)
class SessionConfig:
    """What a client configured (or the defaults, before any update)."""

    model: str
    """Transcription model id (resolved like the HTTP routes' `model`)."""
    input_format: InputFormat = "pcm16"
    """The appended audio's encoding."""
    language: str | None = None
    """ISO-639-1 code; None detects it per turn."""
    prompt: str | None = None
    """Conditioning text for every turn."""
    turn_detection: TurnDetection | None = field(default_factory=TurnDetection)
    """`server_vad` settings; None: the client commits each turn itself."""
    noise_reduction: str | None = None
    """Accepted and echoed (`near_field`, `far_field`); no filter is applied."""


@dataclass(frozen=True)
class SessionLimits:
    """Bounds on what one session may hold or cost."""

    max_buffer_seconds: float = 120.0
    """Uncommitted audio kept (manual turns); older audio is dropped, with an error event."""
    max_turn_seconds: float = 30.0
    """`server_vad`: a turn that runs this long is committed, and the next one begins."""
    max_ahead_seconds: float = 30.0
    """Audio may arrive at most this far ahead of real time; frames beyond are refused."""
    delta_interval_seconds: float = 0.4
    """How often a turn being spoken is re-decoded for `delta` events."""
    max_pending_turns: int = 4
    """Committed turns waiting for their text; one more fails with `server_busy`."""


@dataclass(frozen=True)
class TurnText:
    """A turn's text."""

    text: str
    """The transcript ("" for silence)."""
    language: str
    """The language asked for or detected."""


class TurnTranscriber(Protocol):
    """What a session needs from speech-to-text."""

    def validate(self, config: SessionConfig) -> None:
        """Raise SessionError if the model or language cannot be served."""

    def busy(self) -> bool:
        """Whether decoders have work waiting (interim decodes are skipped then)."""

    async def transcribe(self, audio: Float32Pcm, config: SessionConfig, final: bool) -> TurnText:
        """The text of a turn (16-kHz float32); `final` is the committed turn, otherwise
        the part spoken so far. Raises SessionError (ServerBusy when overloaded)."""
