"""Types that cross the speech-to-text seams: options in, segments and transcripts out,
and the `SttEngine` Protocol both engines implement."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from common.pcm import Float32Pcm
from segmenter.source import SampleSource
from segmenter.vad import VadOptions

Task = Literal["transcribe", "translate"]
Algorithm = Literal["chunked", "sequential"]
ALGORITHMS: tuple[Algorithm, ...] = ("chunked", "sequential")
"""`chunked`: VAD windows decoded independently, batched across requests (Groq's);
`sequential`: Whisper's own sliding window, each window conditioned on the last."""
Samples = Float32Pcm


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
    """Which engine decodes it (see ALGORITHMS)."""
    vad: VadOptions | None = None
    """Voice-activity tuning for chunked mode (None: defaults)."""
    background: bool = False
    """A batch job's request: chunked mode runs it behind interactive requests, on at most
    all but one inference thread."""


@dataclass(frozen=True)
class Word:
    """One word with its times."""

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
    """One decoded segment: the only segment type from the decoder to the formats."""

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
    """Mean log-probability of the tokens."""
    compression_ratio: float
    """gzip compression ratio of the text (repetition check)."""
    no_speech_prob: float
    """Probability that the window holds no speech."""
    words: tuple[Word, ...] = ()
    """Words of this segment when word timestamps were asked for."""


@dataclass(frozen=True)
class Transcript:
    """A whole transcription."""

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


@dataclass(frozen=True)
class TranscriptStream:
    """A transcription under way: header facts now, segments as decoded."""

    task: Task
    """`transcribe` or `translate`."""
    language: str
    """Detected or given language code."""
    duration: float
    """Input length, seconds."""
    segments: Iterator[Segment]
    """Segments in time order, times clamped to [0, duration] and never decreasing."""

    def collect(self) -> Transcript:
        return Transcript(
            task=self.task,
            language=self.language,
            duration=self.duration,
            segments=tuple(self.segments),
        )


class SttEngine(Protocol):
    """Decodes one request's audio (the counterpart of `voices.engines.SentenceEngine`).

    Blocking: call from a worker thread. Returns once the language is known;
    the segments follow lazily. Setting `cancel` stops the work at the next
    window with `Cancelled`.
    """

    def stream(
        self,
        audio: SampleSource,
        options: SttOptions,
        cancel: threading.Event | None = None,
        incremental: bool = False,
    ) -> TranscriptStream: ...
