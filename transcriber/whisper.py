"""A typed facade over the few faster-whisper internals the engines use.

faster-whisper and CTranslate2 ship no type information; this module is the one
place that touches them. Everything it returns is ours: `Segment`, `Word`,
`WindowText`, plain lists. Only the encoder output stays opaque (`Encoded`, a
CTranslate2 StorageView), handed from `encode` back into `decode_windows`.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from transcriber.types import Samples, Segment, SttOptions, Task, Word

Encoded = Any
"""Encoder output (ctranslate2.StorageView): CTranslate2 has no type stubs."""
Features = npt.NDArray[np.float32]
"""Log-mel features of one window (n_mels x frames; WINDOW_FRAMES unless cut shorter)."""
FRAMES_PER_SECOND = 100
"""Log-mel frames per second of audio (10-ms hop)."""
WINDOW_FRAMES = 30 * FRAMES_PER_SECOND
"""Frames of a full 30-s window, Whisper's context."""

PUNCTUATION_BEFORE = "\"'“¿([{-"
PUNCTUATION_AFTER = "\"'.。,，!！?？:：”)]}、"
"""Punctuation merged into the neighbouring word by the word alignment (Whisper's)."""


@dataclass(frozen=True)
class LoadOptions:
    """How to load a CTranslate2 Whisper model."""

    device: str = "cpu"
    """`cpu`, `cuda` or `auto`."""
    compute_type: str = "int8"
    """CTranslate2 quantization (`int8`, `float16`, ...)."""
    cpu_threads: int = 1
    """Intra-op threads per replica; 0 = CTranslate2's default."""
    num_workers: int = 1
    """Model replicas that decode in parallel (one thread each on CPU)."""
    solo_threads: int = 0
    """CPU: threads of one more replica that encodes the windows of a request that is
    alone (its encoder then uses every core); 0 or 1: no such replica. Beam search stays
    on the one-thread replicas: measured here, 2 threads encode a window in 0.40 s
    against 0.74 s, but search it in 2.3 s against 1.1 s."""
    background_nice: int = 0
    """Linux CPU: load a second set of replicas (one more copy of the weights, or two with
    a solo replica) whose threads run at a nice value this much higher (a lower priority),
    for long files and batch jobs; the operating system then gives the cores to short
    requests whenever they have work, instead of making them wait for a long window's
    beam search. 0: one set for all."""


@dataclass(frozen=True)
class WindowText:
    """One window decoded without timestamp tokens (the chunked engine's unit)."""

    text: str
    """Decoded text with Whisper's leading space."""
    tokens: tuple[int, ...]
    """Text token ids (end-of-text excluded)."""
    language: str
    """Language the window was decoded in."""
    avg_logprob: float
    """Length-normalised log-probability of the beam's best sequence."""
    no_speech_prob: float
    """Probability of the no-speech token at the start."""
    compression_ratio: float
    """gzip ratio of the text (repetition check)."""
    words: tuple[Word, ...]
    """Aligned words, times in seconds from the window's start (empty unless aligned)."""


class WhisperModel:
    """One loaded faster-whisper model; thread-safe per faster-whisper's contract."""

    def __init__(
        self, model: Any, solo: Any = None, background: WhisperModel | None = None
    ) -> None:
        self._model = model  # faster_whisper.WhisperModel (untyped third-party)
        self._solo = solo  # ctranslate2.models.Whisper with all threads, or None
        self._tokenizers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._background = background

    @property
    def background(self) -> WhisperModel:
        """The replicas for long files and batch jobs: copies whose threads run at a lower
        priority (`LoadOptions.background_nice`), or these same ones. (Not an attribute
        holding `self`: the cycle would keep an unloaded model's memory until the cyclic
        garbage collector happens to run.)"""
        return self._background or self

    @classmethod
    def load(cls, path: str, options: LoadOptions) -> WhisperModel:
        background = None
        if options.background_nice > 0 and options.device == "cpu" and sys.platform == "linux":
            background = _in_niced_thread(options.background_nice, lambda: cls._load(path, options))
        return cls._load(path, options, background)

    @classmethod
    def _load(
        cls, path: str, options: LoadOptions, background: WhisperModel | None = None
    ) -> WhisperModel:
        from faster_whisper import WhisperModel as FasterWhisperModel

        model = FasterWhisperModel(
            path,
            device=options.device,
            compute_type=options.compute_type,
            cpu_threads=options.cpu_threads,
            num_workers=options.num_workers,
        )
        solo = None
        if options.device == "cpu" and options.solo_threads > 1:
            import ctranslate2

            solo = ctranslate2.models.Whisper(
                path, device="cpu", compute_type=options.compute_type,
                intra_threads=options.solo_threads, inter_threads=1,
            )  # fmt: skip
        return cls(model, solo, background)

    # -- facts ----------------------------------------------------------------
    @property
    def on_cpu(self) -> bool:
        return str(getattr(self._model.model, "device", "cpu")) == "cpu"

    @property
    def is_multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    @property
    def has_solo(self) -> bool:
        """Whether an all-core replica exists to encode a lone request's windows."""
        return self._solo is not None

    # -- sequential: faster-whisper's own long-form loop ----------------------
    def transcribe(
        self, audio: Samples, options: SttOptions, temperatures: Sequence[float]
    ) -> tuple[str, Iterator[Segment]]:
        """faster-whisper's sliding window: (language, lazily decoded segments with raw times)."""
        raw, info = self._model.transcribe(
            audio,
            language=options.language,
            task=options.task,
            beam_size=options.beam_size,
            temperature=list(temperatures),
            initial_prompt=options.prompt or None,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
        )
        return str(info.language), (_segment(seg) for seg in raw)

    # -- chunked: the steps of one batch --------------------------------------
    def features(self, audio: Samples, frames: int = WINDOW_FRAMES) -> Features:
        """Log-mel features padded (or cut) to `frames` frames: a 30-s window by default;
        fewer for a short utterance, whose encoding then costs about its length (the
        encoder takes any length up to 30 s)."""
        from faster_whisper.audio import pad_or_trim

        mel = self._model.feature_extractor(audio)[..., :-1]
        return np.asarray(pad_or_trim(mel, frames), dtype=np.float32)

    def encode(self, features: npt.NDArray[np.float32], solo: bool = False) -> Encoded:
        """Encoder output of a batch of windows (batch x n_mels x frames); `solo` runs it on
        the all-core replica."""
        if solo and self._solo is not None:
            from faster_whisper.transcribe import get_ctranslate2_storage

            return self._solo.encode(get_ctranslate2_storage(features), to_cpu=False)
        return self._model.encode(features)

    @staticmethod
    def concatenate(parts: Sequence[Encoded]) -> Encoded:
        """One encoder output from several single-window ones."""
        import ctranslate2

        if len(parts) == 1:
            return parts[0]
        stacked = np.concatenate([np.asarray(p) for p in parts])
        return ctranslate2.StorageView.from_array(stacked)

    def detect_languages(self, encoded: Encoded) -> list[str]:
        """The most likely language code of each encoded window."""
        return [str(pairs[0][0])[2:-2] for pairs in self._model.model.detect_language(encoded)]

    def decode_windows(
        self, encoded: Encoded, languages: Sequence[str], options: SttOptions,
        durations: Sequence[float], align: bool, max_length: int | None = None,
    ) -> list[WindowText]:  # fmt: skip
        """Decode every window in one beam search (no timestamp tokens), at most
        `max_length` tokens (the model's limit by default); align words when `align`
        (times from each window's start)."""
        from faster_whisper.transcribe import get_compression_ratio, get_suppressed_tokens

        tokenizers = [self._tokenizer(options.task, lang) for lang in languages]
        previous = tokenizers[0].encode(" " + options.prompt.strip()) if options.prompt else []
        prompts = [
            self._model.get_prompt(tokenizer, previous, without_timestamps=True)
            for tokenizer in tokenizers
        ]
        results = self._model.model.generate(
            encoded, prompts, beam_size=options.beam_size, patience=1.0, length_penalty=1.0,
            max_length=max_length or self._model.max_length, suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizers[0], [-1]), return_scores=True,
            return_no_speech_prob=True, sampling_temperature=options.temperature,
        )  # fmt: skip
        windows: list[list[dict[str, Any]]] = []
        for result, tokenizer, duration in zip(results, tokenizers, durations, strict=True):
            tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
            text = tokenizer.decode(tokens)
            windows.append([{
                "text": text, "tokens": tokens, "start": 0.0, "end": duration, "seek": 0,
                "avg_logprob": result.scores[0] * len(tokens) / (len(tokens) + 1),
                "no_speech_prob": result.no_speech_prob,
                "compression_ratio": get_compression_ratio(text),
            }])  # fmt: skip
        if align:
            frames = [int(np.ceil(d) * self._model.frames_per_second) for d in durations]
            self._model.add_word_timestamps(
                windows, tokenizers[0], encoded, frames, PUNCTUATION_BEFORE, PUNCTUATION_AFTER,
                0.0,
            )  # fmt: skip
        return [_window_text(w, lang) for (w,), lang in zip(windows, languages, strict=True)]

    def text_tokens(self, language: str, text: str) -> tuple[int, ...]:
        """`text` encoded with the transcribe tokenizer of `language`."""
        return tuple(int(t) for t in self._tokenizer("transcribe", language).encode(text))

    def _tokenizer(self, task: Task, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        with self._lock:
            key = (task, language)
            if key not in self._tokenizers:
                self._tokenizers[key] = Tokenizer(
                    self._model.hf_tokenizer, self.is_multilingual, task=task, language=language
                )
            return self._tokenizers[key]


def _in_niced_thread(nice: int, load: Callable[[], WhisperModel]) -> WhisperModel:
    """`load` run on a new thread whose nice value is raised by `nice` first (Linux: a
    per-thread attribute): CTranslate2 starts a replica's threads when it loads the
    model, and a new thread inherits its creator's nice value, so those replicas compute
    at that priority for as long as they live."""

    def lower_priority() -> None:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)

    with ThreadPoolExecutor(1, "load-background-replicas", lower_priority) as pool:
        return pool.submit(load).result()


def _segment(seg: Any) -> Segment:
    """A faster-whisper segment as ours (raw times; the engine clamps them)."""
    return Segment(
        id=int(seg.id),
        seek=int(seg.seek),
        start=float(seg.start),
        end=float(seg.end),
        text=str(seg.text),
        tokens=tuple(int(t) for t in seg.tokens),
        temperature=float(seg.temperature or 0.0),
        avg_logprob=float(seg.avg_logprob),
        compression_ratio=float(seg.compression_ratio),
        no_speech_prob=float(seg.no_speech_prob),
        words=tuple(
            Word(str(w.word), float(w.start), float(w.end), float(w.probability))
            for w in seg.words or ()
        ),
    )


def _window_text(window: dict[str, Any], language: str) -> WindowText:
    """A decoded window (faster-whisper's dict, words added by the alignment) as ours."""
    return WindowText(
        text=str(window["text"]),
        tokens=tuple(int(t) for t in window["tokens"]),
        language=language,
        avg_logprob=float(window["avg_logprob"]),
        no_speech_prob=float(window["no_speech_prob"]),
        compression_ratio=float(window["compression_ratio"]),
        words=tuple(
            Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w["probability"]))
            for w in window.get("words") or ()
        ),
    )
