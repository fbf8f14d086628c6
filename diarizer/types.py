"""Types that cross the diarization seams: options in, speaker turns out, and the
`SpeakerEncoder` Protocol the pipeline embeds with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from common.pcm import Float32Pcm

Embeddings = npt.NDArray[np.float32]
"""Unit vectors, one row per clip."""

MAX_SPEAKERS = 10
"""The most speakers a file is split into (and the largest hint accepted)."""
MAX_KNOWN_SPEAKERS = 4
"""The most named reference voices one request may bring (OpenAI's limit)."""


@dataclass(frozen=True)
class DiarizeOptions:
    """How to split one file into speakers."""

    min_speakers: int = 1
    """At least this many speakers (a hint; fewer are found only if there are fewer windows)."""
    max_speakers: int = MAX_SPEAKERS
    """At most this many speakers; equal to `min_speakers` fixes the count."""
    threshold: float | None = None
    """Cosine distance at which two groups of windows are taken for different speakers
    (average linkage); None: the encoder's own (`SpeakerEncoder.threshold`)."""


@dataclass(frozen=True)
class KnownSpeaker:
    """A named speaker from a reference clip (`known_speaker_names[]` / `..._references[]`)."""

    name: str
    """The label to use for this speaker."""
    embedding: Embeddings
    """The clip's embedding (EMBEDDING_SIZE,)."""


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of the file where one speaker talks."""

    start: float
    """Seconds on the file's timeline."""
    end: float
    """Seconds on the file's timeline."""
    speaker: str
    """`A`, `B`, ... in order of first appearance, or a known speaker's name."""


@dataclass(frozen=True)
class Diarization:
    """The speaker turns of one file."""

    turns: tuple[SpeakerTurn, ...]
    """In time order; two overlap only where two people talk at once (the segmentation
    pipeline hears that, the window pipeline never does)."""
    speakers: tuple[str, ...]
    """Every label used, in order of first appearance."""


class SpeakerEncoder(Protocol):
    """Embeds short clips of 16-kHz speech (the counterpart of `transcriber.types.SttEngine`)."""

    @property
    def partial_samples(self) -> int:
        """Length of the clips `embed` takes."""
        ...

    @property
    def threshold(self) -> float:
        """The clustering distance measured for this encoder's windows."""
        ...

    @property
    def segment_threshold(self) -> float:
        """The clustering distance measured for whole local speakers' embeddings (the
        segmentation pipeline, `diarizer.segmented`)."""
        ...

    @property
    def known_min_similarity(self) -> float:
        """Cosine at or above which a speaker takes a known reference's name."""
        ...

    def embed(self, clips: Float32Pcm) -> Embeddings:
        """(n, partial_samples) float32 clips -> (n, dim) unit vectors. Blocking."""
        ...

    def embed_utterance(self, audio: Float32Pcm) -> Embeddings:
        """One unit vector for a whole clip of one speaker. Blocking."""
        ...
