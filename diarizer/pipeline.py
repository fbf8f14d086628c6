"""One file -> speaker turns: speech regions, a window embedding every HOP_SECONDS,
clustering, and the turns those windows speak for on the file's timeline; or, with the
segmentation model loaded, `diarizer.segmented`'s local speakers per 10-s chunk (turns
that may overlap).

Blocking; the service runs it on a worker thread, beside the transcription of the
same audio. Memory is bounded by the file: the windows are embedded a batch at a
time and only their embeddings (1 KB each) are kept.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from common.pcm import SAMPLE_RATE, Float32Pcm, to_float32
from diarizer.cluster import centroids, cluster
from diarizer.segmentation import SegmentationModel
from diarizer.segmented import Segmented, SegmentedDiarizer
from diarizer.types import (
    Diarization,
    DiarizeOptions,
    Embeddings,
    KnownSpeaker,
    SpeakerEncoder,
    SpeakerTurn,
)
from segmenter.source import SampleSource
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import Span, speech_regions

HOP_SECONDS = 0.8
"""Distance between the starts of two embedding windows inside a speech region."""
REGION_VAD = VadOptions(threshold=0.2, silence_ms=250, padding_ms=60, min_speech_ms=200)
"""Speech regions for diarization: finer than the transcriber's, so a pause between two
speakers separates them, and more sensitive (0.2, not Silero's 0.5): on the far-field
AMI meetings 0.5 missed 9.5% of the reference speech beyond the overlap, 0.2 misses 2.6%
for 2.5% false alarm."""
_EMBED_BATCH = 64
"""Windows cut and embedded at a time."""


@dataclass(frozen=True)
class _Window:
    start: int
    """First sample of the clip."""
    stop: int
    """End of the audio the clip is cut from: a region shorter than a clip is repeated
    to fill it, rather than padded with silence or a neighbour's speech."""
    lo: float
    """Start of the stretch of the timeline this window speaks for (seconds)."""
    hi: float
    """End of that stretch."""


def _windows(regions: Sequence[Span], size: int) -> list[_Window]:
    """Embedding windows of `size` samples inside each region, and the part of the
    region each one stands for (between the midpoints to its neighbours' centres)."""
    hop = round(HOP_SECONDS * SAMPLE_RATE)
    out: list[_Window] = []
    for begin, end in regions:
        if end - begin <= size:
            out.append(_Window(begin, end, begin / SAMPLE_RATE, end / SAMPLE_RATE))
            continue
        starts = list(range(begin, end - size + 1, hop))
        if starts[-1] < end - size:
            starts.append(end - size)
        centres = [s + size / 2 for s in starts]
        for i, start in enumerate(starts):
            lo = begin if i == 0 else (centres[i - 1] + centres[i]) / 2
            hi = end if i == len(starts) - 1 else (centres[i] + centres[i + 1]) / 2
            out.append(_Window(start, start + size, lo / SAMPLE_RATE, hi / SAMPLE_RATE))
    return out


def _clips(audio: SampleSource, windows: Sequence[_Window], size: int) -> Float32Pcm:
    clips = np.zeros((len(windows), size), np.float32)
    for row, window in enumerate(windows):
        piece = to_float32(audio[window.start : min(window.stop, window.start + size)])
        if piece.shape[0]:
            clips[row] = np.resize(piece, size)
    return clips


def _names(
    labels: Sequence[int], centres: np.ndarray, known: Sequence[KnownSpeaker],
    min_similarity: float,
) -> dict[int, str]:  # fmt: skip
    """Known names for the clusters that match a reference, letters for the rest in
    order of first appearance."""
    names: dict[int, str] = {}
    if known:
        refs = np.stack([k.embedding for k in known])
        similarity = centres @ refs.T
        rows, cols = linear_sum_assignment(-similarity)
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            if similarity[row, col] >= min_similarity:
                names[row] = known[col].name
    taken = set(names.values())
    letters = iter(_letters(taken))
    for label in labels:
        if label not in names:
            names[label] = next(letters)
    return names


def _letters(taken: set[str]) -> list[str]:
    singles = list(string.ascii_uppercase)
    doubles = [a + b for a in singles for b in singles]
    return [name for name in singles + doubles if name not in taken]


class Diarizer:
    """Speaker turns of a file, with a speaker encoder and the segmenter's VAD, or the
    segmentation model where one is given."""

    def __init__(
        self, encoder: SpeakerEncoder, vad: SileroVad, segmentation: SegmentationModel | None = None
    ) -> None:
        self.encoder = encoder
        self.vad = vad
        self.segmented = (
            SegmentedDiarizer(segmentation, encoder) if segmentation is not None else None
        )
        """The segmentation pipeline; None: VAD regions and fixed windows."""

    @property
    def threshold(self) -> float:
        """The clustering distance used where the options name none."""
        if self.segmented is not None:
            return self.encoder.segment_threshold
        return self.encoder.threshold

    def known_speaker(self, name: str, audio: Float32Pcm) -> KnownSpeaker:
        """A named reference voice from a clip of 16-kHz audio."""
        return KnownSpeaker(name, self.encoder.embed_utterance(audio))

    def diarize(
        self, audio: SampleSource, options: DiarizeOptions | None = None,
        known: Sequence[KnownSpeaker] = (), cancel: threading.Event | None = None,
    ) -> Diarization:  # fmt: skip
        """Speaker turns of 16-kHz audio, float32 or int16 (no turns where nobody speaks).
        Setting `cancel` stops the work at the next batch of windows (no turns)."""
        embedded = self.embed_file(audio, cancel)
        if cancel is not None and cancel.is_set():
            return Diarization((), ())
        return self.turns(embedded, options or DiarizeOptions(), known)

    def embed_file(
        self, audio: SampleSource, cancel: threading.Event | None = None
    ) -> Embedded | Segmented:
        """The embedding windows of a file and their embeddings, or its local speakers and
        theirs (the costly half)."""
        if self.segmented is not None:
            return self.segmented.segment(audio, cancel)
        regions = speech_regions(self.vad.probabilities(audio), audio.shape[0], REGION_VAD)
        size = self.encoder.partial_samples
        windows = _windows(regions, size)
        parts = []
        for i in range(0, len(windows), _EMBED_BATCH):
            if cancel is not None and cancel.is_set():
                windows = windows[:i]
                break
            parts.append(self.encoder.embed(_clips(audio, windows[i : i + _EMBED_BATCH], size)))
        empty = np.zeros((0, 0), np.float32)
        return Embedded(tuple(windows), np.concatenate(parts) if parts else empty)

    def turns(
        self, embedded: Embedded | Segmented, options: DiarizeOptions,
        known: Sequence[KnownSpeaker] = (),
    ) -> Diarization:  # fmt: skip
        """Cluster embedded windows (or local speakers) into speakers and lay their turns
        on the timeline."""
        if isinstance(embedded, Segmented):
            return self._segmented_turns(embedded, options, known)
        windows, embeddings = embedded.windows, embedded.embeddings
        if not windows:
            return Diarization((), ())
        labels = cluster(embeddings, options, self.encoder.threshold)
        count = int(labels.max()) + 1
        centres = centroids(embeddings, labels, count)
        names = _names(labels.tolist(), centres, known, self.encoder.known_min_similarity)
        turns = _merge_gaps([
            SpeakerTurn(window.lo, window.hi, names[label])
            for window, label in zip(windows, labels.tolist(), strict=True)
            if window.hi > window.lo
        ])  # fmt: skip
        speakers = tuple(dict.fromkeys(turn.speaker for turn in turns))
        return Diarization(tuple(turns), speakers)

    def _segmented_turns(
        self, segmented: Segmented, options: DiarizeOptions, known: Sequence[KnownSpeaker]
    ) -> Diarization:
        if self.segmented is None or not segmented.keys:
            return Diarization((), ())
        spans, centres = self.segmented.turns(segmented, options, self.threshold)
        names = _names([k for _s, _e, k in spans], centres, known,
                       self.encoder.known_min_similarity)  # fmt: skip
        turns = tuple(SpeakerTurn(start, end, names[k]) for start, end, k in spans)
        return Diarization(turns, tuple(dict.fromkeys(turn.speaker for turn in turns)))


@dataclass(frozen=True)
class Embedded:
    """A file's embedding windows and their embeddings."""

    windows: tuple[_Window, ...]
    """Where each window was cut and the stretch of the timeline it speaks for."""
    embeddings: Embeddings
    """One unit vector per window."""


MERGE_GAP_SECONDS = 0.5
"""Two turns of the same speaker closer than this become one (a breath, not a turn)."""


def _merge_gaps(turns: list[SpeakerTurn]) -> list[SpeakerTurn]:
    out: list[SpeakerTurn] = []
    for turn in sorted(turns, key=lambda t: t.start):
        if out and out[-1].speaker == turn.speaker and turn.start - out[-1].end < MERGE_GAP_SECONDS:
            out[-1] = SpeakerTurn(out[-1].start, max(out[-1].end, turn.end), turn.speaker)
        else:
            out.append(turn)
    return out
