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
from typing import Any

import numpy as np
import numpy.typing as npt

from audio.batcher import Batcher, Between
from audio.constants import SAMPLE_RATE
from audio.errors import ClientDisconnected
from audio.stt import TranscriptStream, clean_segments
from audio.types import Samples, SttOptions
from segmenter.source import SampleSource
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import Window, first_window, segment, windows_after

NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
"""Whisper's rule: a window with no_speech_prob above 0.6 and avg_logprob below -1 is silence."""
FIRST_WINDOW_SECONDS = 5.0
"""Streaming: the first window's length cap (its text is the first delta)."""
SENTENCE_END = (".", "?", "!", "。", "？", "！", "؟")
MAX_SEGMENT_SECONDS = 12.0
"""A segment without sentence punctuation is closed after this long."""
PUNCTUATION_BEFORE = "\"'“¿([{-"
PUNCTUATION_AFTER = "\"'.。,，!！?？:：”)]}、"


TailPlan = Iterator[list[Window] | None]
"""The rest of a request's plan: None after each VAD block, then its windows."""


@dataclass(frozen=True)
class _WindowInput:
    features: np.ndarray
    """Log-mel features padded to 30 s."""
    duration: float
    """Audio seconds in the window."""


class ChunkedEngine:
    """One model's chunked decoder and its batcher (one inference thread per replica)."""

    def __init__(
        self, model: Any, vad: SileroVad, max_batch: int = 8, max_wait: float = 0.02,
        workers: int = 1, long_max_batch: int | None = None,
    ) -> None:  # fmt: skip
        self.model = model
        self.vad = vad
        self.batcher = Batcher(self._run_batch, max_batch, max_wait, workers, long_max_batch)
        self._tokenizers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._long_encode = threading.Lock()

    def close(self) -> None:
        self.batcher.shutdown()

    # -- the model side (batcher thread) ---------------------------------------
    def _tokenizer(self, task: str, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        with self._lock:
            key = (task, language)
            if key not in self._tokenizers:
                self._tokenizers[key] = Tokenizer(
                    self.model.hf_tokenizer, self.model.model.is_multilingual,
                    task=task, language=language,
                )  # fmt: skip
            return self._tokenizers[key]

    def _encode(self, payloads: list[_WindowInput], between: Between, short: bool) -> Any:
        """The batch's encoder output. On the CPU one window at a time (batching the
        encoder gains nothing there and multiplies its attention memory), calling
        `between` after each, which lets short requests in and may add windows to the
        batch; on a GPU all at once. Long requests' windows are encoded one at a time
        across threads too: each encoding briefly holds ~80 MB of attention scores, and
        a long file's encodings would otherwise coincide for its whole length."""
        import ctranslate2

        if getattr(self.model.model, "device", "cpu") != "cpu":
            return self.model.encode(np.stack([p.features for p in payloads]))
        parts: list[Any] = []
        while len(parts) < len(payloads):
            features = payloads[len(parts)].features[None]
            if short:
                parts.append(self.model.encode(features))
            else:
                with self._long_encode:
                    parts.append(self.model.encode(features))
            between()
        if len(parts) == 1:
            return parts[0]
        return ctranslate2.StorageView.from_array(np.concatenate([np.asarray(p) for p in parts]))

    def _run_batch(
        self, key: Hashable, payloads: list[_WindowInput], between: Between, short: bool
    ) -> list[Any]:
        """Encode; detect each window's language from that encoding if needed; decode
        all windows in one beam search; align words only when times are needed."""
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        assert isinstance(key, tuple)
        opts, language, align = key
        encoded = self._encode(payloads, between, short)
        if language is None and self.model.model.is_multilingual:
            languages = [
                str(pairs[0][0])[2:-2] for pairs in self.model.model.detect_language(encoded)
            ]
        else:
            languages = [language or "en"] * len(payloads)
        tokenizers = [self._tokenizer(opts.task, lang) for lang in languages]
        previous = tokenizers[0].encode(" " + opts.prompt.strip()) if opts.prompt else []
        prompts = [self.model.get_prompt(t, previous, without_timestamps=True) for t in tokenizers]
        results = self.model.model.generate(
            encoded, prompts, beam_size=opts.beam_size, patience=1.0, length_penalty=1.0,
            max_length=self.model.max_length, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizers[0], [-1]), return_scores=True,
            return_no_speech_prob=True, sampling_temperature=opts.temperature,
        )  # fmt: skip
        outputs = []
        for payload, result, tokenizer, lang in zip(
            payloads, results, tokenizers, languages, strict=True
        ):
            tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
            text = tokenizer.decode(tokens)
            outputs.append([{
                "text": text, "tokens": tokens, "start": 0.0, "end": payload.duration,
                "avg_logprob": result.scores[0] * len(tokens) / (len(tokens) + 1),
                "no_speech_prob": result.no_speech_prob, "seek": 0, "language": lang,
                "compression_ratio": get_compression_ratio(text),
            }])  # fmt: skip
        if align:
            sizes = [int(np.ceil(p.duration) * self.model.frames_per_second) for p in payloads]
            self.model.add_word_timestamps(
                outputs, tokenizers[0], encoded, sizes, PUNCTUATION_BEFORE, PUNCTUATION_AFTER, 0.0
            )
        return outputs

    # -- the request side (a pool worker) ---------------------------------------
    def _features(self, audio: Samples) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        return np.asarray(pad_or_trim(self.model.feature_extractor(audio)[..., :-1]))

    def stream(
        self, audio: SampleSource, opts: SttOptions, cancel: threading.Event | None = None,
        incremental: bool = False,
    ) -> TranscriptStream:  # fmt: skip
        """Start decoding; returns once the first window (and so the language) is known.

        `incremental` (SSE): a short first window, planned from the first VAD block and
        decoded on its own, so the first text arrives after a fraction of the file
        whatever its length.
        """
        head, tail = self._plan(audio, opts.vad or VadOptions(), incremental)
        align = opts.word_timestamps or opts.segment_timestamps
        key = (replace(opts, vad=None, algorithm="chunked", word_timestamps=False,
                       segment_timestamps=False), opts.language, align)  # fmt: skip
        found: list[str] = []
        raw = self._decode(audio, head, tail, key, found, cancel)
        first = next(raw, None)  # blocks until the first window is decoded
        language = found[0] if found else (opts.language or "en")
        duration = audio.shape[0] / SAMPLE_RATE
        segments = clean_segments(
            itertools.chain([first] if first is not None else [], raw), duration
        )
        if not opts.word_timestamps:
            segments = (replace(s, words=()) for s in segments)
        return TranscriptStream(opts.task, language, duration, segments)

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
        self, audio: SampleSource, head: list[Window], tail: TailPlan, key: Hashable,
        found: list[str], cancel: threading.Event | None,
    ) -> Iterator[Any]:  # fmt: skip
        """Decode `head` (streaming's first window, alone), yielding it as soon as it is
        done while `tail` plans the rest; then submit the rest a batch's worth at a time
        (so batches start full), keeping a batch per inference thread, and one more,
        queued ahead; yield segments in order."""
        pending: deque[tuple[Window, Future[Any]]] = deque()
        rid = self.batcher.open(key, len(head)) if head else None
        windows: list[Window] = []
        try:
            if rid is not None:
                pending.extend(self._submit(audio, rid, head))
            for step in tail:
                if cancel is not None and cancel.is_set():
                    raise ClientDisconnected
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
            yield from self._decode_windows(audio, windows, key, found, cancel)

    def _decode_windows(
        self, audio: SampleSource, windows: list[Window], key: Hashable, found: list[str],
        cancel: threading.Event | None,
    ) -> Iterator[Any]:  # fmt: skip
        rid = self.batcher.open(key, len(windows))
        group = self.batcher.max_batch
        ahead = group * (self.batcher.workers + 1)
        in_flight: deque[tuple[Window, Future[Any]]] = deque()
        try:
            for first in range(0, len(windows), group):
                if cancel is not None and cancel.is_set():
                    raise ClientDisconnected
                in_flight.extend(self._submit(audio, rid, windows[first : first + group]))
                while len(in_flight) > ahead:
                    yield from self._collect(*in_flight.popleft(), found, cancel)
            while in_flight:
                yield from self._collect(*in_flight.popleft(), found, cancel)
        finally:
            self.batcher.close_request(rid)

    def _submit(
        self, audio: SampleSource, rid: int, windows: list[Window]
    ) -> list[tuple[Window, Future[Any]]]:
        payloads = [_WindowInput(self._features(w.audio(audio)), w.seconds) for w in windows]
        return list(zip(windows, self.batcher.submit_many(rid, payloads), strict=True))

    def _collect(
        self, window: Window, future: Future[Any], found: list[str],
        cancel: threading.Event | None,
    ) -> Iterator[Any]:  # fmt: skip
        while True:
            if cancel is not None and cancel.is_set():
                raise ClientDisconnected
            try:
                result = future.result(timeout=0.1)
                break
            except TimeoutError:
                continue
            except CancelledError as exc:
                raise ClientDisconnected from exc
        for sub in result:
            if not found:
                found.append(sub["language"])
            silent = sub["no_speech_prob"] > NO_SPEECH_THRESHOLD
            if silent and sub["avg_logprob"] < LOG_PROB_THRESHOLD:
                continue
            encode = self._tokenizer("transcribe", sub["language"]).encode
            yield from _sentences(window, sub, encode)


def _sentences(
    window: Window, sub: dict[str, Any], encode: Callable[[str], list[int]]
) -> Iterator[Any]:
    """Split a window's text into sentence segments using its word times.

    A sentence's `tokens` are its text re-encoded (the window's own tokens when the
    window is one sentence). Windows are decoded without timestamp tokens (as
    faster-whisper's batched pipeline does: with them, base models drop the tail of a
    full 30-s window); segment boundaries come from the cross-attention word alignment.
    """
    from faster_whisper.transcribe import Segment as FwSegment
    from faster_whisper.transcribe import Word as FwWord

    words = [
        FwWord(start=window.to_file_time(w["start"]), end=window.to_file_time(w["end"]),
               word=w["word"], probability=w["probability"])
        for w in sub.get("words") or ()
    ]  # fmt: skip
    groups: list[list[Any]] = []
    for word in words:
        if not groups or _sentence_done(groups[-1]):
            groups.append([])
        groups[-1].append(word)
    if not groups and sub["text"].strip():
        groups = [[]]
    for group in groups:
        text = "".join(w.word for w in group) if group else sub["text"]
        yield FwSegment(
            id=0, seek=int(window.start * 100),
            start=group[0].start if group else window.start,
            end=group[-1].end if group else window.end,
            text=text, tokens=sub["tokens"] if len(groups) == 1 else encode(text),
            avg_logprob=sub["avg_logprob"], compression_ratio=sub["compression_ratio"],
            no_speech_prob=sub["no_speech_prob"], words=group, temperature=0.0,
        )  # fmt: skip


def _sentence_done(group: list[Any]) -> bool:
    if not group:
        return False
    ends_sentence = bool(group[-1].word.rstrip().endswith(SENTENCE_END))
    return ends_sentence or float(group[-1].end - group[0].start) >= MAX_SEGMENT_SECONDS
