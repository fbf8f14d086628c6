"""The TTS service: catalog lookup, synthesis in the pool, encoding (no HTTP here).

Built by `audio.wiring`."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from audio.errors import InvalidRequest, ModelNotFound, ModelUnavailable
from audio.media.encode import SENT_WHOLE, SpeechEncoder, encode_whole
from audio.services.pool import InferencePool
from voices.catalog import VoiceCatalog
from voices.registry import VoiceEngines
from voices.synthesizer import Synthesizer
from voices.types import PcmChunk, SpeechOptions, Voice, VoiceError


@dataclass(frozen=True)
class SpeechJob:
    """A validated speech request, engine side."""

    text: str
    """What to say."""
    voice: Voice
    """Catalog voice."""
    options: SpeechOptions
    """Speed and friends."""
    response_format: str
    """One of audio.media.encode.SPEECH_FORMATS."""
    sample_rate: int
    """Output rate."""


class TtsService:
    def __init__(self, catalog: VoiceCatalog, engines: VoiceEngines, pool: InferencePool) -> None:
        self.catalog = catalog
        self.engines = engines
        self.synthesizer = Synthesizer(engines)
        self.pool = pool
        self._lock = threading.Lock()
        self.seconds_rendered = 0.0
        """Seconds of speech rendered (/metrics)."""

    def _rendered(self, job: SpeechJob, paced: bool) -> Iterator[PcmChunk]:
        for chunk in self.synthesizer.stream(job.text, job.voice, job.options, paced):
            with self._lock:
                self.seconds_rendered += chunk.seconds
            yield chunk

    def voice_for(self, model: str, voice_name: str) -> Voice:
        language = self.catalog.model_language(model)
        if language is None:
            raise ModelNotFound(model)
        try:
            voice = self.catalog.lookup(voice_name, language)
        except VoiceError as exc:
            raise InvalidRequest(
                f"{exc}. Valid voices for model `{model}`: {', '.join(exc.valid)}", param="voice"
            ) from exc
        engine, _shaped = self.engines.engine_for(voice)
        if not self.engines.installed(engine):
            raise ModelUnavailable(
                f"The engine for voice {voice.name} ({self.engines.resolve(engine)}) is "
                "not installed on this server: pip install 'speech-pipeline' with its TTS "
                "dependencies, or `speech-pipeline voices pull ID`.",
                param="voice",
            )
        return voice

    def render_now(self, job: SpeechJob) -> bytes:
        """Blocking: the whole file (not paced: nobody is listening yet, so every
        sentence is spoken whole, and the audio depends on the text alone)."""
        chunks = [(c.samples, c.sample_rate) for c in self._rendered(job, paced=False)]
        return encode_whole(chunks, job.response_format, job.sample_rate)

    async def render(self, job: SpeechJob) -> bytes:
        return await self.pool.run(lambda: self.render_now(job))

    def _encoded(self, job: SpeechJob) -> Iterator[bytes]:
        if job.response_format in SENT_WHOLE:
            yield self.render_now(job)
            return
        encoder = SpeechEncoder(job.response_format, job.sample_rate, streaming=True)
        for chunk in self._rendered(job, paced=True):
            data = encoder.push(chunk.samples, chunk.sample_rate)
            if data:
                yield data
        tail = encoder.close()
        if tail:
            yield tail

    def stream(self, job: SpeechJob) -> AsyncIterator[bytes]:
        """Encoded bytes sentence by sentence (one worker held for the whole stream)."""
        return self.pool.stream(lambda: self._encoded(job))
