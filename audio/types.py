"""Engine-side types that cross the seams: options in, transcripts out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from segmenter.vad import VadOptions

Task = Literal["transcribe", "translate"]
Algorithm = Literal["chunked", "sequential"]
Samples = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SttOptions:
    """How to decode one request."""

    task: Task = "transcribe"
    """`transcribe` keeps the spoken language; `translate` outputs English."""
    language: str | None = None
    """ISO-639-1 code of the spoken language; None detects it."""
    prompt: str | None = None
    """Conditioning text for the first window."""
    temperature: float = 0.0
    """0 starts Whisper's fallback ladder at 0; above 0 samples at that temperature only."""
    word_timestamps: bool = False
    """Compute per-word times (cross-attention alignment)."""
    segment_timestamps: bool = True
    """Whether segment times matter (verbose_json, srt, vtt); json/text skip the
    chunked engine's word alignment, which is where its segment times come from."""
    beam_size: int = 5
    """Beam width for temperature-0 decoding."""
    vad_filter: bool = True
    """Drop non-speech before decoding (sequential)."""
    algorithm: Algorithm = "sequential"
    """`chunked`: VAD windows decoded in batches; `sequential`: Whisper's sliding window."""
    vad: VadOptions | None = None
    """Voice-activity tuning for chunked mode (None: defaults)."""


@dataclass(frozen=True)
class Word:
    word: str
    """The word with Whisper's leading space."""
    start: float
    """Seconds on the file's timeline."""
    end: float
    """Seconds on the file's timeline."""
    probability: float
    """Model confidence, 0..1."""


@dataclass(frozen=True)
class Segment:
    id: int
    """Index in the transcript."""
    seek: int
    """Window offset in 10-ms frames, as Whisper reports it."""
    start: float
    """Seconds on the file's timeline."""
    end: float
    """Seconds on the file's timeline."""
    text: str
    """Text with Whisper's leading space."""
    tokens: tuple[int, ...]
    """Decoded token ids."""
    temperature: float
    """Temperature the accepted decode used."""
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: tuple[Word, ...] = ()
    """Words of this segment when word timestamps were asked for."""


@dataclass(frozen=True)
class Transcript:
    task: Task
    """What was done."""
    language: str
    """ISO code of the detected or given language."""
    duration: float
    """Length of the input audio, seconds."""
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    """Segments in time order."""

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for s in self.segments for w in s.words)
