"""Chunked long-form STT: VAD windows decoded in batches shared across requests.

Groq's `chunked` algorithm: the segmenter cuts the audio into <=30-s windows of
speech; each window is decoded independently (no conditioning on the previous
text), so windows from any number of requests can share one batched
encoder/decoder call in the model's Batcher. Times are mapped back through each
window's spans onto the file's timeline.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Iterator, Sequence
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from audio.batcher import Batcher
from audio.errors import ClientDisconnected
from audio.stt import TranscriptStream, _clean
from audio.types import Samples, SttOptions
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import Window, segment

NO_SPEECH_THRESHOLD = 0.6
LOG_PROB_THRESHOLD = -1.0
"""Whisper's rule: a window with no_speech_prob above 0.6 and avg_logprob below -1 is silence."""
SENTENCE_END = (".", "?", "!", "。", "？", "！", "؟")
MAX_SEGMENT_SECONDS = 12.0
"""A segment without sentence punctuation is closed after this long."""
SENTENCE_END = (".", "?", "!", "。", "？", "！", "؟")
MAX_SEGMENT_SECONDS = 12.0
"""A segment without sentence punctuation is closed after this long."""
PUNCTUATION_BEFORE = "\"'“¿([{-"
PUNCTUATION_AFTER = "\"'.。,，!！?？:：”)]}、"


@dataclass(frozen=True)
class _WindowInput:
    features: np.ndarray
    """Log-mel features padded to 30 s."""
    duration: float
    """Audio seconds in the window."""


class ChunkedEngine:
    """One model's chunked decoder and its batcher (one inference thread)."""

    def __init__(self, model: Any, vad: SileroVad, max_batch: int = 8, max_wait: float = 0.02):
        from faster_whisper.transcribe import BatchedInferencePipeline

        self.model = model
        self.vad = vad
        self._pipeline = BatchedInferencePipeline(model)
        self.batcher = Batcher(self._run_batch, max_batch=max_batch, max_wait=max_wait)
        self._tokenizers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

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

    def _options(self, opts: SttOptions, tokenizer: Any) -> Any:
        from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

        return TranscriptionOptions(
            beam_size=opts.beam_size, best_of=5, patience=1.0, length_penalty=1.0,
            repetition_penalty=1.0, no_repeat_ngram_size=0,
            log_prob_threshold=LOG_PROB_THRESHOLD, no_speech_threshold=NO_SPEECH_THRESHOLD,
            compression_ratio_threshold=2.4, condition_on_previous_text=False,
            prompt_reset_on_temperature=0.5, temperatures=[opts.temperature],
            initial_prompt=opts.prompt, prefix=None, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]), without_timestamps=True,
            max_initial_timestamp=0.0, word_timestamps=True,
            prepend_punctuations=PUNCTUATION_BEFORE, append_punctuations=PUNCTUATION_AFTER,
            multilingual=False, max_new_tokens=None, clip_timestamps="0",
            hallucination_silence_threshold=None, hotwords=None,
        )  # fmt: skip

    def _run_batch(self, key: Hashable, payloads: Sequence[_WindowInput]) -> list[Any]:
        assert isinstance(key, tuple)
        opts, language = key
        tokenizer = self._tokenizer(opts.task, language)
        options = self._options(opts, tokenizer)
        features = np.stack([p.features for p in payloads])
        metadata = [{"offset": 0.0, "duration": p.duration, "segments": []} for p in payloads]
        self._pipeline.last_speech_timestamp = 0.0
        return list(self._pipeline.forward(features, tokenizer, metadata, options))

    # -- the request side (a pool worker) ---------------------------------------
    def _features(self, audio: Samples) -> np.ndarray:
        from faster_whisper.audio import pad_or_trim

        return np.asarray(pad_or_trim(self.model.feature_extractor(audio)[..., :-1]))

    def _language(self, opts: SttOptions, first: _WindowInput | None) -> str:
        if opts.language:
            return opts.language
        if not self.model.model.is_multilingual or first is None:
            return "en"
        language, _prob, _all = self.model.detect_language(features=first.features)
        return str(language)

    def stream(
        self, audio: Samples, opts: SttOptions, cancel: threading.Event | None = None
    ) -> TranscriptStream:
        windows = segment(audio, self.vad.probabilities(audio), opts.vad or VadOptions())
        first = _WindowInput(self._features(windows[0].audio(audio)), windows[0].seconds) \
            if windows else None  # fmt: skip
        language = self._language(opts, first)
        duration = audio.shape[0] / 16000
        decode_key = (replace(opts, vad=None, algorithm="chunked", word_timestamps=False), language)
        raw = self._decode(audio, windows, first, decode_key, cancel)
        segments = _clean(raw, duration)
        if not opts.word_timestamps:
            segments = (replace(s, words=()) for s in segments)
        return TranscriptStream(opts.task, language, duration, segments)

    def _decode(
        self, audio: Samples, windows: list[Window], first: _WindowInput | None,
        key: Hashable, cancel: threading.Event | None,
    ) -> Iterator[Any]:  # fmt: skip
        if not windows:
            return
        rid = self.batcher.open(key)
        in_flight: deque[tuple[Window, Future[Any]]] = deque()
        try:
            for index, window in enumerate(windows):
                if cancel is not None and cancel.is_set():
                    raise ClientDisconnected
                payload = first if index == 0 and first is not None else _WindowInput(
                    self._features(window.audio(audio)), window.seconds)  # fmt: skip
                in_flight.append((window, self.batcher.submit(rid, payload)))
                while len(in_flight) >= self.batcher.max_batch:
                    yield from self._collect(*in_flight.popleft(), cancel)
            while in_flight:
                yield from self._collect(*in_flight.popleft(), cancel)
        finally:
            self.batcher.close_request(rid)

    @staticmethod
    def _collect(
        window: Window, future: Future[Any], cancel: threading.Event | None
    ) -> Iterator[Any]:
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
            silent = sub["no_speech_prob"] > NO_SPEECH_THRESHOLD
            if silent and sub["avg_logprob"] < LOG_PROB_THRESHOLD:
                continue
            yield from _sentences(window, sub)


def _sentences(window: Window, sub: dict[str, Any]) -> Iterator[Any]:
    """Split a window's text into sentence segments using its word times.

    Windows are decoded without timestamp tokens (as faster-whisper's batched
    pipeline does: with them, base models drop the tail of a full 30-s window);
    segment boundaries come from the cross-attention word alignment instead.
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
            text=text, tokens=sub["tokens"] if len(groups) == 1 else [],
            avg_logprob=sub["avg_logprob"], compression_ratio=sub["compression_ratio"],
            no_speech_prob=sub["no_speech_prob"], words=group, temperature=0.0,
        )  # fmt: skip


def _sentence_done(group: list[Any]) -> bool:
    if not group:
        return False
    ends_sentence = group[-1].word.rstrip().endswith(SENTENCE_END)
    return ends_sentence or group[-1].end - group[0].start >= MAX_SEGMENT_SECONDS
