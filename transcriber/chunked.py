"""Chunked long-form STT: VAD windows decoded in batches shared across requests.

Groq's `chunked` algorithm: the segmenter cuts the audio into <=30-s windows of
speech; each window is decoded independently (no conditioning on the previous
text), so windows from any number of requests can share one batched
encoder/decoder call in the model's Batcher. Times are mapped back through each
window's spans onto the file's timeline.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from common.pcm import SAMPLE_RATE
from segmenter.source import SampleSource
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import Window, first_window, segment, windows_after
from transcriber.batcher import Batcher, BatchKind, Between
from transcriber.errors import Cancelled
from transcriber.timeline import clean_segments
from transcriber.types import Samples, Segment, SttOptions, TranscriptStream, Word
from transcriber.whisper import (
    FRAMES_PER_SECOND,
    WINDOW_FRAMES,
    Encoded,
    Features,
    WhisperModel,
    WindowText,
)

NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
"""Whisper's rule: a window with no_speech_prob above 0.6 and avg_logprob below -1 is silence."""
FIRST_WINDOW_SECONDS = 5.0
"""Streaming: the first window's length cap (its text is the first delta)."""
SENTENCE_END = (".", "?", "!", "。", "？", "！", "؟")
MAX_SEGMENT_SECONDS = 12.0
"""A segment without sentence punctuation is closed after this long."""


TailPlan = Iterator[list[Window] | None]
"""The rest of a request's plan: None after each VAD block, then its windows."""


@dataclass(frozen=True)
class _WindowInput:
    features: Features
    """Log-mel features (padded to 30 s, or to an utterance's frames)."""
    duration: float
    """Audio seconds in the window."""


@dataclass(frozen=True)
class _BatchKey:
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


@dataclass(frozen=True)
class Utterance:
    """The text of one short utterance (a realtime turn)."""

    text: str
    """Its text ("" when Whisper judged it silence)."""
    language: str
    """The language asked for, or the one detected."""


UTTERANCE_FRAME_STEP = 200
"""Short windows are encoded at a length rounded up to this many frames (2 s), so windows
of about the same length share a beam search."""
UTTERANCE_MIN_FRAMES = 1000
"""A short window is encoded in at least 10 s, and in twice its length: with less trailing
silence Whisper base loops on short turns ("And so my fellow Americans. And so my...")."""


def encoder_frames(seconds: float, min_frames: int = UTTERANCE_MIN_FRAMES) -> int:
    """Feature frames to encode `seconds` of audio in: twice its length, at least
    `min_frames`, rounded up to UTTERANCE_FRAME_STEP, at most a full window. Whisper's
    encoder takes any length up to 30 s and costs about what it is given: a 3-s clip in
    10 s costs a third of the 30 s it used to be padded to (short-clip WER measured no
    worse: BENCHMARKS.md, `bench latency`)."""
    needed = max(min_frames, 2 * int(seconds * FRAMES_PER_SECOND))
    rounded = -(-needed // UTTERANCE_FRAME_STEP) * UTTERANCE_FRAME_STEP
    return min(WINDOW_FRAMES, rounded)


SUBMIT_GROUP = 4
"""Windows a request's thread submits at once (at least a batch): with a group per
inference thread and one more in flight, no thread waits for the request's features."""
MIN_TOKENS = 10
"""Tokens any capped decode may use, however short its audio."""
REPETITION_RATIO = 2.4
"""Whisper's rule: text that gzip compresses more than this is a repetition loop."""


class ChunkedEngine:
    """An `SttEngine`: one model's chunked decoder and its batcher (one inference thread
    per replica)."""

    def __init__(
        self, model: WhisperModel, vad: SileroVad, max_batch: int = 8, max_wait: float = 0.02,
        workers: int = 1, long_max_batch: int | None = None,
    ) -> None:  # fmt: skip
        self.model = model
        self.vad = vad
        self.batcher: Batcher[_WindowInput, WindowText] = Batcher(
            self._run_batch, max_batch, max_wait, workers, long_max_batch
        )
        self._long_encode = threading.Lock()

    def close(self) -> None:
        self.batcher.shutdown()

    # -- the model side (batcher thread) ---------------------------------------
    def _replicas(self, kind: BatchKind) -> WhisperModel:
        """The model replicas a batch runs on: the background lane's (long files, batch
        jobs) may run at a lower CPU priority, so they yield the cores to short requests."""
        return self.model if kind.interactive else self.model.background

    def _encode(
        self, key: _BatchKey, payloads: list[_WindowInput], between: Between, kind: BatchKind
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
            solo = model.has_solo and self.batcher.alone(kind)
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
    def _frames(key: _BatchKey, payload: _WindowInput) -> int:
        """Feature frames a window is encoded in: an utterance's as it asked, any other in
        twice its length (`encoder_frames`; a window of 15 s or more in a full one). A long
        file has short windows too, where speech regions do not pack up to 30 s: measured
        here, a 9-s window encodes in 0.24 s in 18 s against 0.74 s in 30 s, and its beam
        search takes 0.25 s against 0.39 s."""
        return key.frames or encoder_frames(payload.duration)

    def _by_frames(self, key: _BatchKey, payloads: list[_WindowInput]) -> dict[int, list[int]]:
        """Indexes of the windows grouped by their encoded length (one beam search each)."""
        groups: dict[int, list[int]] = {}
        for index, payload in enumerate(payloads):
            groups.setdefault(self._frames(key, payload), []).append(index)
        return groups

    def _run_batch(
        self, key: Hashable, payloads: list[_WindowInput], between: Between, kind: BatchKind
    ) -> list[WindowText]:
        """Encode; detect each window's language from that encoding if needed; decode
        the windows of each encoded length in one beam search; align words only when
        times are needed."""
        assert isinstance(key, _BatchKey)
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

    # -- the request side (a pool worker) ---------------------------------------
    def submit_utterance(
        self, audio: Samples, options: SttOptions, frames: int | None = None,
        min_frames: int = UTTERANCE_MIN_FRAMES, tokens_per_second: float | None = None,
    ) -> tuple[Future[WindowText], Callable[[], None]]:  # fmt: skip
        """Queue one utterance of at most 30 s (float32 at 16 kHz) as a one-window request,
        so it goes ahead of long files: (its future, a function that drops it if it is
        still queued and forgets the request). Encoded in `frames` feature frames (by
        default twice its length, at least 10 s; a 30-s window costs three times more).
        With `tokens_per_second`, the decode stops at that many tokens per second of the
        encoded frames (a decode that loops ends in time)."""
        seconds = audio.shape[0] / SAMPLE_RATE
        frames = min(WINDOW_FRAMES, frames or encoder_frames(seconds, min_frames))
        key = _BatchKey(
            replace(options, vad=None, algorithm="chunked", word_timestamps=False,
                    segment_timestamps=False),
            options.language, align=False, frames=frames,
            max_length=None if tokens_per_second is None
            else MIN_TOKENS + int(tokens_per_second * frames / FRAMES_PER_SECOND),
        )  # fmt: skip
        rid = self.batcher.open(key, 1)
        future = self.batcher.submit(rid, _WindowInput(self.model.features(audio, frames), seconds))
        future.add_done_callback(lambda _f: self.batcher.close_request(rid))
        return future, lambda: self.batcher.close_request(rid)

    @staticmethod
    def looped(result: WindowText) -> bool:
        """Whether a decode fell into a repetition loop (worth one more at 30 s)."""
        return result.compression_ratio > REPETITION_RATIO

    @staticmethod
    def utterance_text(result: WindowText) -> Utterance:
        """The utterance's text, empty when Whisper's silence rule says it is silence."""
        silent = result.no_speech_prob > NO_SPEECH_THRESHOLD
        if silent and result.avg_logprob < LOG_PROB_THRESHOLD:
            return Utterance("", result.language)
        return Utterance(result.text.strip(), result.language)

    def stream(
        self, audio: SampleSource, options: SttOptions, cancel: threading.Event | None = None,
        incremental: bool = False,
    ) -> TranscriptStream:  # fmt: skip
        """Start decoding; returns once the first window (and so the language) is known.

        `incremental` (SSE): a short first window, planned from the first VAD block and
        decoded on its own, so the first text arrives after a fraction of the file
        whatever its length.
        """
        head, tail = self._plan(audio, options.vad or VadOptions(), incremental)
        key = _BatchKey(
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

    def _plan(
        self, audio: SampleSource, vad: VadOptions, incremental: bool
    ) -> tuple[list[Window], TailPlan]:
        """The windows to decode first, and the lazy plan of the others. Streaming: the
        first window from as few VAD blocks as settle it, decoded while the plan runs
        the VAD over the rest."""
        blocks = self.vad.probability_blocks(audio)
        seen: list[npt.NDArray[np.float32]] = []
        first = None
        if incremental:
            for block in blocks:
                seen.append(block)
                first = first_window(audio, np.concatenate(seen), vad, FIRST_WINDOW_SECONDS)
                if first is not None:
                    break
            else:  # the whole file is seen: its first window is settled, if it has one
                probs = np.concatenate(seen) if seen else np.zeros(0, np.float32)
                first = first_window(audio, probs, vad, FIRST_WINDOW_SECONDS, complete=True)
        return ([first] if first else []), self._rest(audio, vad, blocks, seen, first)

    def _rest(
        self, audio: SampleSource, vad: VadOptions, blocks: Iterator[npt.NDArray[np.float32]],
        seen: list[npt.NDArray[np.float32]], first: Window | None,
    ) -> TailPlan:  # fmt: skip
        """Yields None after each remaining VAD block, then the windows: the file's
        (no first window), or those after the first window."""
        for block in blocks:
            seen.append(block)
            yield None
        probs = np.concatenate(seen) if seen else np.zeros(0, np.float32)
        if first is None:
            yield segment(audio, probs, vad)
        else:
            yield windows_after(audio, probs, vad, first.spans[-1][1])

    def _decode(
        self, audio: SampleSource, head: list[Window], tail: TailPlan, key: _BatchKey,
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
        self, audio: SampleSource, windows: list[Window], key: _BatchKey, found: list[str],
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
        payloads = [_WindowInput(self.model.features(w.audio(audio)), w.seconds) for w in windows]
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
        silent = result.no_speech_prob > NO_SPEECH_THRESHOLD
        if silent and result.avg_logprob < LOG_PROB_THRESHOLD:
            return
        yield from self._sentences(window, result)

    def _sentences(self, window: Window, decoded: WindowText) -> Iterator[Segment]:
        """Split a window's text into sentence segments using its word times.

        A sentence's `tokens` are its text re-encoded (the window's own tokens when the
        window is one sentence). Windows are decoded without timestamp tokens (as
        faster-whisper's batched pipeline does: with them, base models drop the tail of
        a full 30-s window); segment boundaries come from the cross-attention word
        alignment.
        """
        words = [
            replace(w, start=window.to_file_time(w.start), end=window.to_file_time(w.end))
            for w in decoded.words
        ]
        groups: list[list[Word]] = []
        for word in words:
            if not groups or _sentence_done(groups[-1]):
                groups.append([])
            groups[-1].append(word)
        if not groups and decoded.text.strip():
            groups = [[]]
        for group in groups:
            text = "".join(w.word for w in group) if group else decoded.text
            tokens = (
                decoded.tokens if len(groups) == 1
                else self.model.text_tokens(decoded.language, text)
            )  # fmt: skip
            yield Segment(
                id=0, seek=int(window.start * 100),
                start=group[0].start if group else window.start,
                end=group[-1].end if group else window.end,
                text=text, tokens=tokens, temperature=0.0, avg_logprob=decoded.avg_logprob,
                compression_ratio=decoded.compression_ratio,
                no_speech_prob=decoded.no_speech_prob, words=tuple(group),
            )  # fmt: skip


def _sentence_done(group: list[Word]) -> bool:
    if not group:
        return False
    ends_sentence = group[-1].word.rstrip().endswith(SENTENCE_END)
    return ends_sentence or group[-1].end - group[0].start >= MAX_SEGMENT_SECONDS
