"""Turn detection: where a turn starts and, with server VAD, where it stops, frame by
frame from the VAD's speech probabilities."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.ids import new_id
from common.pcm import SAMPLE_RATE
from realtime.types import TurnDetection
from segmenter.constants import FRAME_SAMPLES

SPEECH_HOLD = 0.15
"""Inside speech, a frame counts as speech down to `threshold - SPEECH_HOLD` (Silero's own
hysteresis), so one weak frame does not end a turn."""
DEFAULT_THRESHOLD = 0.5
"""Speech probability that starts a turn when the client commits (no server VAD)."""


@dataclass
class Turn:
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


Change = tuple[Literal["started", "stopped"], Turn, int]
"""A turn started (at its first sample) or stopped (at its last frame's end)."""


class TurnDetector:
    """The turn being spoken, if any, and the frames that start and end it."""

    def __init__(self) -> None:
        self.turn: Turn | None = None

    def frame(
        self, index: int, prob: float, detection: TurnDetection | None, earliest: int,
        padding: int, max_turn: int,
    ) -> Change | None:  # fmt: skip
        """Take frame `index`'s speech probability. A turn starts `padding` samples before
        its first speech frame (not before `earliest`, the buffer's start); with server
        VAD it stops after its silence, or at `max_turn` samples."""
        threshold = detection.threshold if detection else DEFAULT_THRESHOLD
        end = (index + 1) * FRAME_SAMPLES
        turn = self.turn
        if turn is None:
            if prob < threshold:
                return None
            start = max(earliest, index * FRAME_SAMPLES - padding)
            self.turn = Turn(new_id("item"), start, end)
            return "started", self.turn, start
        if prob >= max(0.01, threshold - SPEECH_HOLD):
            turn.last_voice = end
        if detection is None:
            return None
        silence = end - turn.last_voice
        too_long = end - turn.start >= max_turn
        if silence >= detection.silence_duration_ms * SAMPLE_RATE / 1000 or too_long:
            return "stopped", turn, end
        return None
