"""The STT service: decode -> model -> engine, run in the bounded pool.

Framework-free; the routes call it with validated requests. Chunked requests go
through one ChunkedEngine (and its batcher threads) per loaded model; sequential
ones through faster-whisper's own sliding window. Built by `audio.wiring`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import BinaryIO, TypeVar

from audio.errors import Overloaded
from audio.media.decode import decode_audio, decode_int16
from audio.services.pool import InferencePool
from audio.services.request import turn_options
from audio.settings import Settings
from common.pcm import SAMPLE_RATE, Float32Pcm
from segmenter.constants import MAX_WINDOW_SECONDS
from segmenter.source import SampleSource
from segmenter.vad import SileroVad
from transcriber.chunked import ChunkedEngine
from transcriber.registry import ModelRegistry, Resolved
from transcriber.sequential import SequentialEngine
from transcriber.types import (
    Algorithm,
    Segment,
    SttEngine,
    SttOptions,
    Transcript,
    TranscriptStream,
)
from transcriber.utterance import TurnPolicy, Utterance, looped, utterance_text
from transcriber.whisper import WINDOW_FRAMES, WhisperModel, WindowText

T = TypeVar("T")


class SttService:
    def __init__(
        self, settings: Settings, registry: ModelRegistry, pool: InferencePool, vad: SileroVad
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.pool = pool
        self.vad = vad
        self._lock = threading.Lock()
        self._chunked: dict[str, tuple[WhisperModel, ChunkedEngine]] = {}
        self.seconds_transcribed = 0.0
        """Audio seconds of every finished transcription or translation (/metrics)."""

    def _count(self, seconds: float) -> None:
        with self._lock:
            self.seconds_transcribed += seconds

    def engines(self) -> dict[str, ChunkedEngine]:
        """The chunked engine of each loaded model (their batchers' counts for /metrics)."""
        with self._lock:
            return {model_id: engine for model_id, (_m, engine) in self._chunked.items()}

    def resolve(self, model_id: str) -> Resolved:
        """Pick the serving model now, so 404/503 come before any work."""
        return self.registry.resolve(model_id)

    def chunked_engine(self, model_id: str) -> ChunkedEngine:
        """The chunked engine of a loaded model (rebuilt if the model was reloaded)."""
        model = self.registry.get(model_id)
        with self._lock:
            entry = self._chunked.get(model_id)
            if entry is not None and entry[0] is model:
                return entry[1]
            stale = entry[1] if entry else None
            stt = self.settings.stt
            engine = ChunkedEngine(
                model, self.vad, stt.short_batch(), stt.batch_wait_ms / 1000,
                stt.parallel_decoders(), stt.long_max_batch,
            )  # fmt: skip
            self._chunked[model_id] = (model, engine)
        if stale is not None:
            stale.close()
        return engine

    def engine(self, model_id: str, algorithm: Algorithm) -> SttEngine:
        """The engine that decodes `algorithm` with a loaded model (loading it once)."""
        if algorithm == "chunked":
            return self.chunked_engine(model_id)
        return SequentialEngine(self.registry.get(model_id))

    def prune(self) -> None:
        """Unload idle models, and close the chunked engines of models no longer loaded."""
        self.registry.unload_idle()
        with self._lock:
            gone = [m for m in self._chunked if not self.registry.is_loaded(m)]
            engines = [self._chunked.pop(m)[1] for m in gone]
        for engine in engines:
            engine.close()

    def decode(self, media: BinaryIO | str, options: SttOptions) -> SampleSource:
        """16-kHz samples of an upload, in the form the request's algorithm reads
        (int16 for chunked, float32 for sequential); 400 for what is not audio."""
        max_seconds = self.settings.limits.max_duration_seconds
        if options.algorithm == "chunked":
            return decode_int16(media, max_seconds=max_seconds)
        return decode_audio(media, max_seconds=max_seconds)

    def _open(
        self, source: SampleSource, model_id: str, options: SttOptions,
        cancel: threading.Event | None, incremental: bool,
    ) -> TranscriptStream:  # fmt: skip
        """Load (once) and start decoding with the request's algorithm."""
        engine = self.engine(model_id, options.algorithm)
        return engine.stream(source, options, cancel, incremental)

    def transcribe_now(
        self, media: BinaryIO | str, model_id: str, options: SttOptions,
        cancel: threading.Event | None = None,
    ) -> Transcript:  # fmt: skip
        """Blocking: the whole transcript. Call from a worker thread."""
        return self.transcribe_samples_now(self.decode(media, options), model_id, options, cancel)

    def transcribe_samples_now(
        self, source: SampleSource, model_id: str, options: SttOptions,
        cancel: threading.Event | None = None,
    ) -> Transcript:  # fmt: skip
        """Blocking: the whole transcript of decoded samples (see `decode`)."""
        transcript = self._open(source, model_id, options, cancel, incremental=False).collect()
        self._count(transcript.duration)
        return transcript

    def segments_now(
        self, media: BinaryIO | str, model_id: str, options: SttOptions,
        cancel: threading.Event, durations: list[float] | None = None,
    ) -> Iterator[Segment]:  # fmt: skip
        """Blocking generator: segments as they are decoded (SSE); stops on cancel. The
        audio's length is appended to `durations` once it is decoded."""
        stream = self._open(self.decode(media, options), model_id, options, cancel, True)
        if durations is not None:
            durations.append(stream.duration)
        for segment in stream.segments:
            if cancel.is_set():
                return
            yield segment
        self._count(stream.duration)

    def stream(
        self, media: BinaryIO | str, resolved: Resolved, options: SttOptions,
        cancel: threading.Event, durations: list[float] | None = None,
    ) -> AsyncIterator[Segment]:  # fmt: skip
        """Segments on the event loop as each window is decoded (one worker held)."""
        return self.pool.stream(
            lambda: self.segments_now(media, resolved.served, options, cancel, durations)
        )

    async def transcribe(
        self, media: BinaryIO | str, resolved: Resolved, options: SttOptions,
        cancel: threading.Event | None = None,
    ) -> Transcript:  # fmt: skip
        """Run a transcription in the pool; Overloaded (503) when the queue is full."""
        return await self.run(
            lambda stop: self.transcribe_now(media, resolved.served, options, stop), cancel
        )

    async def run(self, work: Callable[[threading.Event], T], cancel: threading.Event | None) -> T:
        """`work(cancel)` in the bounded pool (Overloaded when its queue is full); the
        event is set if the caller is cancelled, so queued windows are dropped."""
        cancel = cancel or threading.Event()
        try:
            return await self.pool.run(lambda: work(cancel))
        except asyncio.CancelledError:
            cancel.set()
            raise

    def busy(self) -> bool:
        """Whether any decoder has windows waiting."""
        return any(engine.batcher.pending() > 0 for engine in self.engines().values())

    async def transcribe_turn(
        self, audio: Float32Pcm, resolved: Resolved, language: str | None,
        prompt: str | None, policy: TurnPolicy,
    ) -> Utterance:  # fmt: skip
        """One realtime turn (16-kHz float32), decoded as `policy` says: queued in the
        model's batcher as a short request, so it goes ahead of long files; longer than a
        window: decoded as a file. Overloaded when the batcher dropped it."""
        options = turn_options(language, prompt, policy.beam_size)
        engine = await asyncio.to_thread(self.chunked_engine, resolved.served)
        seconds = audio.shape[0] / SAMPLE_RATE
        if seconds > MAX_WINDOW_SECONDS:
            transcript = await asyncio.to_thread(lambda: engine.stream(audio, options).collect())
            self._count(seconds)
            return Utterance(transcript.text.strip(), transcript.language)
        result = await self._utterance(engine, audio, options, policy, None)
        self._count(seconds)
        if not looped(result):
            return utterance_text(result)
        if not policy.redo_when_looped:  # an interim: no text this time rather than a redo
            return Utterance("", result.language)
        redone = await self._utterance(engine, audio, options, policy, WINDOW_FRAMES)
        return utterance_text(redone)

    async def _utterance(
        self, engine: ChunkedEngine, audio: Float32Pcm, options: SttOptions,
        policy: TurnPolicy, frames: int | None,
    ) -> WindowText:  # fmt: skip
        future, drop = await asyncio.to_thread(
            engine.submit_utterance, audio, options, policy, frames
        )
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            drop()
            if future.cancelled() and not _current_task_cancelling():
                raise Overloaded(self.settings.workers.retry_after_seconds) from None
            raise

    def close(self) -> None:
        with self._lock:
            engines = [engine for _model, engine in self._chunked.values()]
            self._chunked.clear()
        for engine in engines:
            engine.close()
        self.registry.close()


def _current_task_cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
