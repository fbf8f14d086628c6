"""Chunked long-form STT: VAD windows decoded in batches shared across requests.

Groq's `chunked` algorithm: the segmenter cuts the audio into <=30-s windows of
speech (`planning`); each window is decoded independently (no conditioning on the
previous text), so windows from any number of requests can share one batched
encoder/decoder call in the model's Batcher (`model_side`). Times are mapped back
through each window's spans onto the file's timeline (`sentences`). This module is the
request side: submitting windows and collecting them in order.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import replace

from common.pcm import SAMPLE_RATE
from segmenter.source import SampleSource
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import Window
from transcriber.batcher import Batcher
from transcriber.errors import Cancelled
from transcriber.model_side import BatchKey, ModelSide, WindowInput
from transcriber.planning import TailPlan, plan
from transcriber.sentences import sentences
from transcriber.timeline import clean_segments
from transcriber.types import Samples, Segment, SttOptions, TranscriptStream
from transcriber.utterance import TurnPolicy, encoder_frames, is_silence
from transcriber.whisper import WINDOW_FRAMES, WhisperModel, WindowText

SUBMIT_GROUP = 4
"""Windows a request's thread submits at once (at least a batch): with a group per
inference thread and one more in flight, no thread waits for the request's features."""


class ChunkedEngine:
    """An `SttEngine`: one model's chunked decoder and its batcher (one inference thread
    per replica)."""

    def __init__(
        self, model: WhisperModel, vad: SileroVad, max_batch: int = 8, max_wait: float = 0.02,
        workers: int = 1, long_max_batch: int | None = None,
    ) -> None:  # fmt: skip
        self.model = model
        self.vad = vad
        side = ModelSide(model, lambda kind: self.batcher.alone(kind))
        self.batcher: Batcher[WindowInput, WindowText] = Batcher(
            side.run_batch, max_batch, max_wait, workers, long_max_batch
        )

    def close(self) -> None:
        self.batcher.shutdown()

    # -- the request side (a pool worker) ---------------------------------------
    def submit_utterance(
        self, audio: Samples, options: SttOptions, policy: TurnPolicy, frames: int | None = None
    ) -> tuple[Future[WindowText], Callable[[], None]]:
        """Queue one utterance of at most 30 s (float32 at 16 kHz) as a one-window request,
        so it goes ahead of long files: (its future, a function that drops it if it is
        still queued and forgets the request). Encoded in `frames` feature frames (by
        default twice its length, at least the policy's; a 30-s window costs three times
        more), its decode capped as the policy says (a decode that loops ends in time)."""
        seconds = audio.shape[0] / SAMPLE_RATE
        frames = min(WINDOW_FRAMES, frames or encoder_frames(seconds, policy.min_frames))
        key = BatchKey(
            replace(options, vad=None, algorithm="chunked", word_timestamps=False,
                    segment_timestamps=False),
            options.language, align=False, frames=frames, max_length=policy.max_length(frames),
        )  # fmt: skip
        rid = self.batcher.open(key, 1)
        future = self.batcher.submit(rid, WindowInput(self.model.features(audio, frames), seconds))
        future.add_done_callback(lambda _f: self.batcher.close_request(rid))
        return future, lambda: self.batcher.close_request(rid)

    def stream(
        self, audio: SampleSource, options: SttOptions, cancel: threading.Event | None = None,
        incremental: bool = False,
    ) -> TranscriptStream:  # fmt: skip
        """Start decoding; returns once the first window (and so the language) is known.

        `incremental` (SSE): a short first window, planned from the first VAD block and
        decoded on its own, so the first text arrives after a fraction of the file
        whatever its length.
        """
        head, tail = plan(self.vad, audio, options.vad or VadOptions(), incremental)
        key = BatchKey(
            replace(options, vad=None, algorithm="chunked", word_timestamps=False,
                    segment_timestamps=False),
            options.language, options.word_timestamps or options.segment_timestamps,
        )  # fmt: skip
        found: list[str] = []
        raw = self._decode(audio, head, tail, key, found, cancel)
        first = next(raw, None)  # blocks until the first window is decoded
        language = found[0] if found else (options.language or "en")
        duration = audio.shape[0] / SAMPLE_RATE
        segments = clean_segments(
            itertools.chain([first] if first is not None else [], raw), duration
        )
        if not options.word_timestamps:
            segments = (replace(s, words=()) for s in segments)
        return TranscriptStream(options.task, language, duration, segments)

    def _decode(
        self, audio: SampleSource, head: list[Window], tail: TailPlan, key: BatchKey,
        found: list[str], cancel: threading.Event | None,
    ) -> Iterator[Segment]:  # fmt: skip
        """Decode `head` (streaming's first window, alone), yielding it as soon as it is
        done while `tail` plans the rest; then submit the rest a batch's worth at a time
        (so batches start full), keeping a batch per inference thread, and one more,
        queued ahead; yield segments in order."""
        pending: deque[tuple[Window, Future[WindowText]]] = deque()
        background = key.options.background
        rid = self.batcher.open(key, len(head), background) if head else None
        windows: list[Window] = []
        try:
            if rid is not None:
                pending.extend(self._submit(audio, rid, head))
            for step in tail:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                if step is not None:
                    windows = step
                elif pending and pending[0][1].done():
                    yield from self._collect(*pending.popleft(), found, cancel)
            while pending:
                yield from self._collect(*pending.popleft(), found, cancel)
        finally:
            if rid is not None:
                self.batcher.close_request(rid)
        if windows:
            longest_first = rid is None  # no streamed first window: order does not show
            yield from self._decode_windows(audio, windows, key, found, cancel, longest_first)

    def _decode_windows(
        self, audio: SampleSource, windows: list[Window], key: BatchKey, found: list[str],
        cancel: threading.Event | None, longest_first: bool = False,
    ) -> Iterator[Segment]:  # fmt: skip
        """Submit the windows a batch's worth at a time, keeping a batch per inference
        thread (and one more) in flight; yield segments in time order. `longest_first`,
        when every window fits in flight at once: submit them longest first, so the last
        window decoded (the one that may run while other threads idle) is a short one."""
        rid = self.batcher.open(key, len(windows), key.options.background)
        group = max(self.batcher.max_batch, self.batcher.long_max_batch, SUBMIT_GROUP)
        ahead = group * (self.batcher.workers + 1)
        in_flight: deque[tuple[Window, Future[WindowText]]] = deque()
        try:
            if longest_first and len(windows) <= ahead:
                order = sorted(range(len(windows)), key=lambda i: -windows[i].seconds)
                submitted = self._submit(audio, rid, [windows[i] for i in order])
                futures = {i: future for i, (_w, future) in zip(order, submitted, strict=True)}
                for i, window in enumerate(windows):
                    yield from self._collect(window, futures[i], found, cancel)
                return
            for first in range(0, len(windows), group):
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                in_flight.extend(self._submit(audio, rid, windows[first : first + group]))
                while len(in_flight) > ahead:
                    yield from self._collect(*in_flight.popleft(), found, cancel)
            while in_flight:
                yield from self._collect(*in_flight.popleft(), found, cancel)
        finally:
            self.batcher.close_request(rid)

    def _submit(
        self, audio: SampleSource, rid: int, windows: list[Window]
    ) -> list[tuple[Window, Future[WindowText]]]:
        payloads = [WindowInput(self.model.features(w.audio(audio)), w.seconds) for w in windows]
        return list(zip(windows, self.batcher.submit_many(rid, payloads), strict=True))

    def _collect(
        self, window: Window, future: Future[WindowText], found: list[str],
        cancel: threading.Event | None,
    ) -> Iterator[Segment]:  # fmt: skip
        while True:
            if cancel is not None and cancel.is_set():
                raise Cancelled
            try:
                result = future.result(timeout=0.1)
                break
            except TimeoutError:
                continue
            except CancelledError as exc:
                raise Cancelled from exc
        if not found:
            found.append(result.language)
        if not is_silence(result):
            yield from sentences(window, result, self.model.text_tokens)
