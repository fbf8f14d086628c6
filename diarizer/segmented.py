"""Diarization with the segmentation model: local speakers per 10-s chunk, one embedding
per local speaker, clustering across chunks, and a frame-level reconstruction that may
give two speakers at once (the shape of pyannote.audio's speaker-diarization pipeline).

1. The file is cut into 10-s chunks every STEP_FRAMES frames (the last one ends at the
   file's end); the segmentation model says which of up to three local speakers talk in
   each frame of each chunk, two at once included.
2. How many people speak in each frame of the file is the average over the chunks that
   see it of their local count, rounded.
3. Each local speaker of each chunk is embedded once, from the samples where it talks
   alone (all its samples when it is never alone long enough).
4. Those embeddings are clustered (average linkage on cosine distance, the same
   `cluster` as the window pipeline, with its own threshold); a chunk's local speakers
   are then matched to the clusters one-to-one (Hungarian), so two people heard at once
   never become one.
5. Each frame gets the `count` global speakers whose chunks' activity, averaged, is
   highest there; runs of frames become turns, which may overlap.

Blocking; memory is bounded by the file: the chunks run a batch at a time and only
their 0/1 activity (589 x 3 bytes each) and embeddings are kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from common.pcm import SAMPLE_RATE, to_float32
from diarizer.cluster import centroids, cluster
from diarizer.segmentation import (
    CHUNK_SAMPLES,
    FRAME_STEP,
    FRAMES,
    LOCAL_SPEAKERS,
    RECEPTIVE_FIELD,
    SegmentationModel,
)
from diarizer.types import DiarizeOptions, Embeddings, SpeakerEncoder
from segmenter.source import SampleSource

STEP_FRAMES = 296
"""Frames between the starts of two chunks (296 x 270 samples = 5 s, half a chunk, so
every moment is seen by two chunks). pyannote steps 1 s; 2.5 s gave 32.7% mean DER on
the ten meetings against 34.1% here, at twice the chunks: 1.38x a plain request's time
on 10 minutes against 1.25x (`bench diarize` and scratch runs, 2026-12-04)."""
BATCH = 16
"""Chunks cut, segmented and embedded at a time (the model itself runs RUN_BATCH at once)."""
MIN_ALONE_SECONDS = 0.6
"""A local speaker is embedded from where it talks alone if that is at least this long,
otherwise from all its frames."""
MAX_PARTIALS = 4
"""Encoder clips per local speaker at most, spread over its speech (averaged)."""
MIN_EMBED_SECONDS = 0.4
"""Local speakers heard for less than this take part in the clustering only through the
one-to-one match with the clusters the others formed."""


@dataclass(frozen=True)
class Segmented:
    """A file's chunk activity and local-speaker embeddings (the costly half)."""

    activity: npt.NDArray[np.uint8]
    """(chunks, FRAMES, LOCAL_SPEAKERS) 0/1: who of each chunk's local speakers talks."""
    starts: npt.NDArray[np.int64]
    """The file frame each chunk starts at."""
    total_frames: int
    """Frames the chunks cover (the last one may reach past the file's end)."""
    duration: float
    """The file's length in seconds (no turn reaches past it)."""
    embeddings: Embeddings
    """One unit vector per (chunk, local speaker) in `keys`."""
    keys: tuple[tuple[int, int], ...]
    """(chunk, local speaker) of each embedding: every local speaker heard at all."""
    seconds: npt.NDArray[np.float64]
    """How long each of those local speakers talks in its chunk."""


def chunk_starts(samples: int) -> list[int]:
    """The first frame of each chunk: every STEP_FRAMES, the last ending at the file's end."""
    total = max(1, -(-(samples - RECEPTIVE_FIELD) // FRAME_STEP) + 1)
    if total <= FRAMES:
        return [0]
    starts = list(range(0, total - FRAMES + 1, STEP_FRAMES))
    if starts[-1] < total - FRAMES:
        starts.append(total - FRAMES)
    return starts


def _chunk(audio: SampleSource, start_frame: int) -> npt.NDArray[np.float32]:
    begin = start_frame * FRAME_STEP
    piece = to_float32(audio[begin : begin + CHUNK_SAMPLES])
    out = np.zeros(CHUNK_SAMPLES, np.float32)
    out[: piece.shape[0]] = piece
    return out


def _frame_samples(frames: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """A chunk's samples covered by the given frames (each frame: FRAME_STEP samples
    around the middle of what it sees)."""
    mask = np.zeros(CHUNK_SAMPLES, bool)
    offset = (RECEPTIVE_FIELD - FRAME_STEP) // 2
    mask[offset : offset + FRAMES * FRAME_STEP] = np.repeat(frames, FRAME_STEP)
    return mask


def _partials(clip: npt.NDArray[np.float32], size: int) -> list[npt.NDArray[np.float32]]:
    """Up to MAX_PARTIALS half-overlapping encoder clips spread over `clip` (a short one
    repeated to fill one)."""
    if clip.shape[0] <= size:
        return [np.resize(clip, size)]
    count = min(MAX_PARTIALS, 1 + -(-2 * (clip.shape[0] - size) // size))
    starts = np.linspace(0, clip.shape[0] - size, count)
    return [clip[s : s + size] for s in starts.round().astype(np.int64).tolist()]


class SegmentedDiarizer:
    """Speaker turns, overlapping where two talk at once, from the segmentation model
    and a speaker encoder."""

    def __init__(self, model: SegmentationModel, encoder: SpeakerEncoder) -> None:
        self.model = model
        self.encoder = encoder

    def segment(self, audio: SampleSource, cancel: threading.Event | None = None) -> Segmented:
        """Run the model over the file and embed every local speaker."""
        samples = int(audio.shape[0])
        starts = chunk_starts(samples)
        total = starts[-1] + FRAMES
        activity = np.zeros((len(starts), FRAMES, LOCAL_SPEAKERS), np.uint8)
        vectors: list[Embeddings] = []
        size = self.encoder.partial_samples
        keys: list[tuple[int, int]] = []
        seconds: list[float] = []
        for i in range(0, len(starts), BATCH):
            if cancel is not None and cancel.is_set():
                break
            chunks = np.stack([_chunk(audio, s) for s in starts[i : i + BATCH]])
            active = self.model.speakers(chunks).astype(bool)
            activity[i : i + len(chunks)] = active
            alone = active & (active.sum(axis=2, keepdims=True) == 1)
            clips: list[npt.NDArray[np.float32]] = []
            owners: list[int] = []
            for row in range(len(chunks)):
                for speaker in range(LOCAL_SPEAKERS):
                    frames = active[row, :, speaker]
                    if not frames.any():
                        continue
                    solo = alone[row, :, speaker]
                    if float(solo.sum()) * FRAME_STEP / SAMPLE_RATE >= MIN_ALONE_SECONDS:
                        frames = solo
                    pieces = _partials(chunks[row][_frame_samples(frames)], size)
                    clips.extend(pieces)
                    owners.extend([len(keys)] * len(pieces))
                    keys.append((i + row, speaker))
                    seconds.append(float(active[row, :, speaker].sum()) * FRAME_STEP / SAMPLE_RATE)
            if clips:  # each local speaker: the unit mean of its partials' embeddings
                first = owners[0]
                embedded = self.encoder.embed(np.stack(clips))
                vectors.append(centroids(embedded, np.array(owners) - first, len(keys) - first))
        return Segmented(
            activity=activity,
            starts=np.array(starts, np.int64),
            total_frames=total,
            duration=samples / SAMPLE_RATE,
            embeddings=np.concatenate(vectors) if vectors else np.zeros((0, 0), np.float32),
            keys=tuple(keys),
            seconds=np.array(seconds, np.float64),
        )

    def turns(
        self, segmented: Segmented, options: DiarizeOptions, threshold: float
    ) -> tuple[list[tuple[float, float, int]], Embeddings]:
        """(start, end, speaker index) turns, possibly overlapping, and each speaker's
        centroid; `threshold` is used where `options` names none."""
        if not segmented.keys:
            return [], np.zeros((0, 0), np.float32)
        labels = _cluster(segmented, options, threshold)
        count = int(labels.max()) + 1
        centres = centroids(segmented.embeddings, labels, count)
        mapping = _match(segmented, centres)
        return _reconstruct(segmented, mapping, count), centres


def _cluster(segmented: Segmented, options: DiarizeOptions, threshold: float) -> np.ndarray:
    """A cluster per embedding: the long-heard ones clustered, the rest to the nearest."""
    long_enough = segmented.seconds >= MIN_EMBED_SECONDS
    if not long_enough.any():
        long_enough[:] = True
    picked = segmented.embeddings[long_enough]
    labels = np.zeros(len(segmented.keys), np.int64)
    labels[long_enough] = cluster(picked, options, threshold)
    if (~long_enough).any():
        centres = centroids(picked, labels[long_enough], int(labels.max()) + 1)
        labels[~long_enough] = np.argmax(segmented.embeddings[~long_enough] @ centres.T, axis=1)
    return labels


def _match(segmented: Segmented, centres: Embeddings) -> dict[tuple[int, int], int]:
    """Each chunk's local speakers to distinct clusters, by most similar in sum."""
    by_chunk: dict[int, list[int]] = {}
    for row, (chunk, _) in enumerate(segmented.keys):
        by_chunk.setdefault(chunk, []).append(row)
    mapping: dict[tuple[int, int], int] = {}
    for rows in by_chunk.values():
        similarity = segmented.embeddings[rows] @ centres.T
        if len(rows) <= centres.shape[0]:
            picked, clusters = linear_sum_assignment(-similarity)
            for r, k in zip(picked.tolist(), clusters.tolist(), strict=True):
                mapping[segmented.keys[rows[r]]] = k
        else:
            for r, k in enumerate(np.argmax(similarity, axis=1).tolist()):
                mapping[segmented.keys[rows[r]]] = k
    return mapping


def _reconstruct(
    segmented: Segmented, mapping: dict[tuple[int, int], int], count: int
) -> list[tuple[float, float, int]]:
    """(start, end, speaker) runs: in each frame, as many speakers as the chunks that see
    it count on average (rounded), those whose mapped local activity averages highest."""
    total = segmented.total_frames
    score = np.zeros((total, count), np.float32)
    local_count = np.zeros(total, np.float32)
    seen = np.zeros(total, np.float32)
    for chunk, start in enumerate(segmented.starts.tolist()):
        active = segmented.activity[chunk].astype(np.float32)
        span = slice(start, start + FRAMES)
        seen[span] += 1
        local_count[span] += active.sum(axis=1)
        for speaker in range(LOCAL_SPEAKERS):
            k = mapping.get((chunk, speaker))
            if k is not None:
                score[span, k] += active[:, speaker]
    seen = np.maximum(seen, 1)
    talking = np.rint(local_count / seen).astype(np.int64)
    score /= seen[:, None]
    order = np.argsort(-score, axis=1, kind="stable")
    on = np.zeros((total, count), bool)
    for j in range(1, min(LOCAL_SPEAKERS, count) + 1):
        rows = np.flatnonzero(talking >= j)
        picked = order[rows, j - 1]
        on[rows, picked] = score[rows, picked] > 0
    out: list[tuple[float, float, int]] = []
    offset = (RECEPTIVE_FIELD - FRAME_STEP) / 2
    for k in range(count):
        edges = np.diff(np.concatenate([[0], on[:, k].astype(np.int8), [0]]))
        for begin, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
            start = (begin * FRAME_STEP + offset) / SAMPLE_RATE
            stop = min((end * FRAME_STEP + offset) / SAMPLE_RATE, segmented.duration)
            if stop > start:
                out.append((start, stop, k))
    return sorted(out)
