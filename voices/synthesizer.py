"""Text -> sentences -> engine -> shaping: one PCM chunk per sentence, paced.

Pacing keeps a stream ahead of its listener on a slow engine (Kokoro on a small CPU):
- the first chunk is cut to what the engine renders in about FIRST_AUDIO_S, at a clause
  break or before a phrase word, so the first audio comes early;
- each later sentence longer than the engine can render while the audio already made
  plays is cut the same way (into shorter pieces if it must), so the next chunk lands
  before playback runs dry.
A whole file (`paced=False`: nobody is listening yet) speaks every sentence whole: a
sentence cut in two is spoken as two, each with its own intonation, and the embedded
Whisper heard the Kokoro voices' 190 round-trip sentences worse so (BENCHMARKS.md,
2026-12-04: mean WER 0.012 cut, 0.009 whole).
The engine's speed is learned from its own renders (seconds per character), per engine
and across requests; it rises on its own when requests share the CPU.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator

from voices.registry import VoiceEngines
from voices.shaping import reshape
from voices.text import (
    FIRST_CHUNK_CHARS,
    MIN_CHUNK_CHARS,
    normalise,
    shorten_first,
    split_sentences,
    split_to_fit,
)
from voices.types import PcmChunk, SpeechOptions, Voice

FIRST_AUDIO_S = 0.3
"""Render time the first chunk of a stream aims at."""
MIN_FIRST_CHARS = 8
"""The first chunk's character budget never goes below this (a word or two)."""
HEADROOM = 0.7
"""A later chunk must render within this share of the audio made and not yet played."""
PRIOR_SECONDS_PER_CHAR = 0.01
"""An engine's assumed speed before its first render is measured."""
SHORT_PIECE = 8
"""Where no cut leaves both sides MIN_CHUNK_CHARS long and the piece would not arrive
in time whole, sides this short are allowed (two or three words): measured on
Kokoro with 2 cores, "Sure," plays 0.79 s while "I can help with that." takes 0.70 s
to render, so the stream was a few tens of ms from running dry."""
LEARNING_RATE = 0.3
"""Weight of the newest render in the running speed estimate."""


class RenderPace:
    """Seconds of render time per character of text, per engine (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cost: dict[str, float] = {}

    def cost(self, engine: str) -> float:
        with self._lock:
            return self._cost.get(engine, PRIOR_SECONDS_PER_CHAR)

    def learn(self, engine: str, seconds: float, chars: int) -> None:
        if chars < MIN_CHUNK_CHARS:  # a word or two: the fixed cost of a call dominates
            return
        observed = seconds / chars
        with self._lock:
            old = self._cost.get(engine)
            self._cost[engine] = observed if old is None else (
                (1 - LEARNING_RATE) * old + LEARNING_RATE * observed)  # fmt: skip


class Synthesizer:
    def __init__(self, engines: VoiceEngines, paced: bool = True) -> None:
        """`paced=False` (whole files, benchmarks): one chunk per sentence, never cut, so
        the chunks depend on the text alone, never on timing."""
        self.engines = engines
        self.paced = paced
        self.pace = RenderPace()

    def first_chunk_chars(self, pace_key: str) -> int:
        """How much text the first chunk of a stream may hold on this engine."""
        budget = int(FIRST_AUDIO_S / self.pace.cost(pace_key))
        return max(MIN_FIRST_CHARS, min(FIRST_CHUNK_CHARS, budget))

    def stream(
        self, text: str, voice: Voice, options: SpeechOptions, paced: bool | None = None
    ) -> Iterator[PcmChunk]:
        """Yield shaped audio piece by piece, paced as the module says unless `paced` is
        False (a whole file: one chunk per sentence) or the synthesizer was made unpaced
        (blocking; run off the event loop)."""
        paced = self.paced if paced is None else paced
        engine_id, shaped = self.engines.engine_for(voice)
        engine = self.engines.get(engine_id)
        key = _pace_key(engine_id)
        rate = voice.rate * options.speed
        sentences = split_sentences(normalise(text, voice.language))
        if paced:
            sentences = shorten_first(sentences, self.first_chunk_chars(key))
        pieces = deque(sentences)
        first_at: float | None = None
        made = 0.0
        while pieces:
            piece = pieces.popleft()
            if first_at is not None and paced:
                ahead = first_at + made - time.monotonic()
                limit = int(ahead * HEADROOM / self.pace.cost(key))
                cut = None
                if len(piece) > limit:
                    # Two short halves ("I can help" "with that.") are a lesser harm
                    # than a silence.
                    cut = split_to_fit(piece, limit) or split_to_fit(piece, limit, SHORT_PIECE)
                if cut is not None:
                    piece = cut[0]
                    pieces.appendleft(cut[1])
            started = time.monotonic()
            if shaped:
                pcm = engine.render(piece, 1.0)
                if pcm.size:
                    pcm = reshape(pcm, engine.sample_rate, voice.f0_hz, voice.formant, rate)
            else:  # a speaker of its own: only its rate is asked of the engine
                pcm = engine.render(piece, rate)
            self.pace.learn(key, time.monotonic() - started, len(piece))
            if pcm.size == 0:
                continue
            chunk = PcmChunk(pcm, engine.sample_rate)
            if first_at is None:
                first_at = time.monotonic()
            made += chunk.seconds
            yield chunk


def _pace_key(engine_id: str) -> str:
    """Kokoro's speakers share one model, so one speed; other engines are their own."""
    return "kokoro" if engine_id.startswith("kokoro:") else engine_id
