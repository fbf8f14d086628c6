"""Group window embeddings into speakers.

Average-linkage agglomerative clustering on cosine distance (scipy), cut where groups
are further apart than the threshold, so the number of speakers is found, not given;
`min/max` hints clamp it. Groups too small to be a speaker (a cough, a window across
a change of speaker) join the nearest real one, and a few rounds of assignment to
the nearest centroid clean up the borders average linkage leaves.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.cluster.hierarchy import fcluster, linkage

from diarizer.types import DiarizeOptions, Embeddings

Labels = npt.NDArray[np.int64]

MIN_CLUSTER_SHARE = 0.04
"""A group with fewer windows than this share of the file (and at least two) is not a
speaker of its own when the count is found automatically."""
REFINE_ROUNDS = 3
MAX_LINKAGE_ROWS = 1200
"""Longer files (over about 16 minutes of speech) cluster this many evenly spread
windows, then every window joins its nearest speaker: linkage needs n^2/2 distances,
and 2000 rows held +26 MB at its peak, 1200 +2 MB."""


def _unit(x: Embeddings) -> Embeddings:
    return np.asarray(x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8), np.float32)


def centroids(embeddings: Embeddings, labels: Labels, count: int) -> Embeddings:
    """The unit mean of each label's rows (count, dim)."""
    sums = np.zeros((count, embeddings.shape[1]), np.float64)
    np.add.at(sums, labels, embeddings)
    return _unit(sums.astype(np.float32))


def _compact(labels: Labels) -> Labels:
    """Renumber labels 0..k-1 in order of first appearance."""
    order: dict[int, int] = {}
    for label in labels.tolist():
        order.setdefault(label, len(order))
    return np.array([order[label] for label in labels.tolist()], np.int64)


def cluster(embeddings: Embeddings, options: DiarizeOptions, threshold: float) -> Labels:
    """A speaker index per row, 0.. in order of first appearance; `threshold` is used
    where `options` leaves it unset."""
    n = embeddings.shape[0]
    if n <= 1:
        return np.zeros(n, np.int64)
    if n > MAX_LINKAGE_ROWS:
        picked = np.linspace(0, n - 1, MAX_LINKAGE_ROWS).round().astype(np.int64)
        sample = cluster(embeddings[picked], options, threshold)
        centres = centroids(embeddings[picked], sample, int(sample.max()) + 1)
        return refine(embeddings, _compact(np.argmax(embeddings @ centres.T, axis=1)))
    lo = max(1, min(options.min_speakers, n))
    hi = max(lo, min(options.max_speakers, n))
    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    floor = min(max(2, int(np.ceil(MIN_CLUSTER_SHARE * n))), max(1, n // hi))
    cut_at = threshold if options.threshold is None else options.threshold
    labels = fcluster(tree, t=cut_at, criterion="distance").astype(np.int64)
    speakers = _big(labels, floor)
    if not lo <= len(speakers) <= hi:
        count = min(max(len(speakers), lo), hi)
        # Average linkage keeps outliers apart longest: cut finer until `count` groups
        # are large enough to be speakers, then fold the rest into them.
        for cut in range(count, min(n, count + 8) + 1):
            labels = fcluster(tree, t=cut, criterion="maxclust").astype(np.int64)
            speakers = _big(labels, floor)
            if len(speakers) >= count:
                break
        speakers = speakers[:count] if len(speakers) >= count else _big(labels, 1)[:count]
    return refine(embeddings, _fold(embeddings, labels, speakers))


def _big(labels: Labels, floor: int) -> list[int]:
    """Labels with at least `floor` rows, largest first."""
    values, sizes = np.unique(labels, return_counts=True)
    order = np.argsort(-sizes, kind="stable")
    return [int(values[i]) for i in order if sizes[i] >= floor]


def _fold(embeddings: Embeddings, labels: Labels, speakers: list[int]) -> Labels:
    """Rows of labels not in `speakers` join the nearest speaker's centroid."""
    keep = np.array(speakers, np.int64)
    centres = _unit(np.stack([embeddings[labels == label].mean(axis=0) for label in speakers]))
    out = labels.copy()
    small = ~np.isin(labels, keep)
    if small.any():
        out[small] = keep[np.argmax(embeddings[small] @ centres.T, axis=1)]
    return _compact(out)


def refine(embeddings: Embeddings, labels: Labels) -> Labels:
    """Reassign each row to its nearest centroid a few times (never emptying a speaker)."""
    for _ in range(REFINE_ROUNDS):
        k = int(labels.max()) + 1
        centres = centroids(embeddings, labels, k)
        moved = np.argmax(embeddings @ centres.T, axis=1).astype(np.int64)
        if len(np.unique(moved)) < k or np.array_equal(moved, labels):
            break
        labels = moved
    return _compact(labels)
