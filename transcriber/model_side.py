"""The model side of chunked decoding, on the batcher's threads: a batch of windows
encoded, its languages detected, decoded in one beam search per encoded length, and
aligned only when times are needed."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import numpy as np

from transcriber.batcher import Between
from transcriber.queues import BatchKind
from transcriber.types import SttOptions
from transcriber.utterance import encoder_frames
from transcriber.whisper import Encoded, Features, WhisperModel, WindowText


@dataclass(frozen=True)
class WindowInput:
    features: Features
    """Log-mel features (padded to 30 s, or to an utterance's frames)."""
    duration: float
    """Audio seconds in the window."""


@dataclass(frozen=True)
class BatchKey:
    """Windows batch together only when all of this is equal."""

    options: SttOptions
    """The request's decoding options (VAD and timing flags cleared)."""
    language: str | None
    """The language asked for; None detects it per window."""
    align: bool
    """Whether word alignment runs (segment or word times are needed)."""
    frames: int | None = None
    """Feature frames every window of the batch is encoded in (an utterance's, as it
    asked); None: each window in twice its length (`encoder_frames`)."""
    max_length: int | None = None
    """Most tokens a window may decode to (None: the model's limit)."""


class ModelSide:
    """Runs the batches of one model's batcher (its `run` callable)."""

    def __init__(self, model: WhisperModel, alone: Callable[[BatchKind], bool]) -> None:
        self.model = model
        self._alone = alone
        """Whether a lane has only one request (it may then encode on every core)."""
        self._long_encode = threading.Lock()

    def _replicas(self, kind: BatchKind) -> WhisperModel:
        """The model replicas a batch runs on: the background lane's (long files, batch
        jobs) may run at a lower CPU priority, so they yield the cores to short requests."""
        return self.model if kind.interactive else self.model.background

    def _encode(
        self, key: BatchKey, payloads: list[WindowInput], between: Between, kind: BatchKind
    ) -> list[tuple[list[int], Encoded]]:
        """The batch's windows grouped by the length they are encoded in (see `_frames`),
        each group with its encoder output. On the CPU one window at a time (batching the
        encoder gains nothing there and multiplies its attention memory), calling
        `between` after each, which may add windows to the batch; on a GPU a group at
        once. Long requests' windows are encoded one at a time across threads too: each
        encoding briefly holds ~80 MB of attention scores, and a long file's encodings
        would otherwise coincide for its whole length. A request alone in its lane
        encodes on the all-core replica, while the other thread's beam search goes on."""
        model = self._replicas(kind)
        if not model.on_cpu:
            return [
                (group, model.encode(np.stack(
                    [payloads[i].features[:, :frames] for i in group])))
                for frames, group in self._by_frames(key, payloads).items()
            ]  # fmt: skip
        parts: list[Encoded] = []
        while len(parts) < len(payloads):
            payload = payloads[len(parts)]
            features = payload.features[None, :, : self._frames(key, payload)]
            solo = model.has_solo and self._alone(kind)
            if kind.short:
                parts.append(model.encode(features, solo))
            else:
                with self._long_encode:
                    parts.append(model.encode(features, solo))
            between()
        return [
            (group, model.concatenate([parts[i] for i in group]))
            for group in self._by_frames(key, payloads).values()
        ]

    @staticmethod
    def _frames(key: BatchKey, payload: WindowInput) -> int:
        """Feature frames a window is encoded in: an utterance's as it asked, any other in
        twice its length (`encoder_frames`; a window of 15 s or more in a full one). A long
        file has short windows too, where speech regions do not pack up to 30 s: measured
        here, a 9-s window encodes in 0.24 s in 18 s against 0.74 s in 30 s, and its beam
        search takes 0.25 s against 0.39 s."""
        return key.frames or encoder_frames(payload.duration)

    def _by_frames(self, key: BatchKey, payloads: list[WindowInput]) -> dict[int, list[int]]:
        """Indexes of the windows grouped by their encoded length (one beam search each)."""
        groups: dict[int, list[int]] = {}
        for index, payload in enumerate(payloads):
            groups.setdefault(self._frames(key, payload), []).append(index)
        return groups

    def run_batch(
        self, key: Hashable, payloads: list[WindowInput], between: Between, kind: BatchKind
    ) -> list[WindowText]:
        """Encode; detect each window's language from that encoding if needed; decode
        the windows of each encoded length in one beam search; align words only when
        times are needed."""
        assert isinstance(key, BatchKey)
        model = self._replicas(kind)
        results: dict[int, WindowText] = {}
        for group, encoded in self._encode(key, payloads, between, kind):
            if key.language is None and model.is_multilingual:
                languages = model.detect_languages(encoded)
            else:
                languages = [key.language or "en"] * len(group)
            durations = [payloads[i].duration for i in group]
            decoded = model.decode_windows(
                encoded, languages, key.options, durations, key.align, key.max_length
            )
            results.update(zip(group, decoded, strict=True))
        return [results[i] for i in range(len(payloads))]
