"""Short utterances (realtime turns): how long they are encoded, how a turn is decoded
(the turn policy, final or interim, in one place), and what text they give."""

from __future__ import annotations

from dataclasses import dataclass

from transcriber.whisper import FRAMES_PER_SECOND, WINDOW_FRAMES, WindowText

NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
"""Whisper's rule: a window with no_speech_prob above 0.6 and avg_logprob below -1 is silence."""
REPETITION_RATIO = 2.4
"""Whisper's rule: text that gzip compresses more than this is a repetition loop."""
MIN_TOKENS = 10
"""Tokens any capped decode may use, however short its audio."""
UTTERANCE_FRAME_STEP = 200
"""Short windows are encoded at a length rounded up to this many frames (2 s), so windows
of about the same length share a beam search."""
UTTERANCE_MIN_FRAMES = 1000
"""A short window is encoded in at least 10 s, and in twice its length: with less trailing
silence Whisper base loops on short turns ("And so my fellow Americans. And so my...")."""
INTERIM_MIN_FRAMES = 600
"""Interim decodes of a turn being spoken encode at least 6 s (finals at least 10 s): the
first words of a turn come sooner, and a loop in an interim shows only as a late delta."""
INTERIM_TOKENS_PER_SECOND = 6.0
"""Interim decodes stop at this many tokens per encoded second (twice the turn's length:
about 12 per second of speech, where people say 3-5): a greedy decode that loops ends in
time instead of running to the model's limit and holding the next deltas back."""


@dataclass(frozen=True)
class Utterance:
    """The text of one short utterance (a realtime turn)."""

    text: str
    """Its text ("" when Whisper judged it silence)."""
    language: str
    """The language asked for, or the one detected."""


@dataclass(frozen=True)
class TurnPolicy:
    """How one realtime turn is decoded."""

    beam_size: int
    """1 (greedy) for interim text; the session's beam for the final text."""
    min_frames: int
    """Feature frames it is encoded in at least (see `encoder_frames`)."""
    tokens_per_second: float | None
    """A cap on the decode's tokens per encoded second (None: the model's limit)."""
    redo_when_looped: bool
    """A decode that loops is done again in a full window (final text); else it gives no
    text this time (interim text, which the next beat redoes anyway)."""

    @classmethod
    def of(cls, final: bool, beam_size: int) -> TurnPolicy:
        """The final decode of a committed turn, or an interim one of a turn being spoken."""
        if final:
            return cls(beam_size, UTTERANCE_MIN_FRAMES, None, redo_when_looped=True)
        return cls(1, INTERIM_MIN_FRAMES, INTERIM_TOKENS_PER_SECOND, redo_when_looped=False)

    def max_length(self, frames: int) -> int | None:
        """Most tokens a decode of `frames` encoded frames may use."""
        if self.tokens_per_second is None:
            return None
        return MIN_TOKENS + int(self.tokens_per_second * frames / FRAMES_PER_SECOND)


def encoder_frames(seconds: float, min_frames: int = UTTERANCE_MIN_FRAMES) -> int:
    """Feature frames to encode `seconds` of audio in: twice its length, at least
    `min_frames`, rounded up to UTTERANCE_FRAME_STEP, at most a full window. Whisper's
    encoder takes any length up to 30 s and costs about what it is given: a 3-s clip in
    10 s costs a third of the 30 s it used to be padded to (short-clip WER measured no
    worse: BENCHMARKS.md, `bench latency`)."""
    needed = max(min_frames, 2 * int(seconds * FRAMES_PER_SECOND))
    rounded = -(-needed // UTTERANCE_FRAME_STEP) * UTTERANCE_FRAME_STEP
    return min(WINDOW_FRAMES, rounded)


def is_silence(result: WindowText) -> bool:
    """Whisper's silence rule, for any decoded window."""
    return result.no_speech_prob > NO_SPEECH_THRESHOLD and result.avg_logprob < LOG_PROB_THRESHOLD


def looped(result: WindowText) -> bool:
    """Whether a decode fell into a repetition loop (worth one more at 30 s)."""
    return result.compression_ratio > REPETITION_RATIO


def utterance_text(result: WindowText) -> Utterance:
    """The utterance's text, empty when Whisper's silence rule says it is silence."""
    return Utterance("" if is_silence(result) else result.text.strip(), result.language)
