"""One Wyoming connection: `describe` -> `info`; `transcribe` + `audio-start/chunk/stop`
-> `transcript` (streamed as `transcript-start/chunk/stop` first); `synthesize`, or
`synthesize-start/chunk/stop` -> `audio-start/chunk/stop`.

A stream is a request like any other: the audio goes through the same decoder, the
same batcher and the same pool as an HTTP upload, with the same limits (duration, the
client address's rate-limit budgets, drain). Anything wrong is an `error` event; the
connection goes on, and other connections never notice.
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import wave
from dataclasses import dataclass, field

from wyoming.asr import Transcribe, Transcript, TranscriptChunk, TranscriptStart, TranscriptStop
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event, async_write_event
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Describe,
    Info,
    TtsProgram,
    TtsVoice,
)
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from audio import __version__
from audio.errors import ServiceError, as_service_error
from audio.media.encode import DEFAULT_SPEECH_SAMPLE_RATE
from audio.ops.ratelimit import RateLimiter, client_identity
from audio.services.request import Fields, parse_request
from audio.services.stt import SttService
from audio.services.tts import SpeechJob, TtsService
from audio.settings import Settings
from audio.wyoming.protocol import WyomingInputError, read_event
from transcriber.errors import TranscriberError
from transcriber.languages import LANGUAGES
from voices.text import split_sentences
from voices.types import SpeechOptions, Voice, VoiceError

log = logging.getLogger(__name__)

ATTRIBUTION = Attribution(name="speech-pipeline", url="https://pypi.org/project/speech-pipeline/")
SAMPLE_WIDTH = 2
"""16-bit PCM in and out (what Home Assistant sends and plays)."""
MIN_RATE, MAX_RATE = 8000, 48000
MAX_CHANNELS = 2
AUDIO_CHUNK_SECONDS = 0.5
"""Speech goes out in chunks of at most this much audio."""
FATAL = frozenset({"header_too_large"})
"""Errors after which the stream cannot be read in step: the connection is closed."""


@dataclass
class _Listening:
    """A transcription being received."""

    model: str
    language: str | None
    rate: int = 0
    channels: int = 0
    pcm: bytearray = field(default_factory=bytearray)
    started: bool = False


class WyomingConnection:
    """The events of one client, answered with the services."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, settings: Settings,
        stt: SttService, tts: TtsService, limiter: RateLimiter, draining: threading.Event,
    ) -> None:  # fmt: skip
        self.reader, self.writer = reader, writer
        self.settings, self.stt, self.tts = settings, stt, tts
        self.limiter, self.draining = limiter, draining
        peer = writer.get_extra_info("peername")
        self.identity = client_identity(None, peer[0] if peer else None)
        self._listening: _Listening | None = None
        self._streamed_text: list[str] | None = None
        self._streamed_voice: str | None = None

    async def run(self) -> None:
        max_payload = self.settings.wyoming.max_chunk_bytes
        try:
            while True:
                try:
                    event = await read_event(self.reader, max_payload)
                    if event is None:
                        return
                    await self._handle(event)
                except WyomingInputError as exc:
                    await self._error(exc.text, exc.code)
                    if exc.code in FATAL:
                        return
                except VoiceError as exc:
                    await self._error(str(exc), "unknown_voice")
                except (ServiceError, TranscriberError) as exc:
                    known = as_service_error(exc)
                    assert known is not None
                    await self._error(known.message, known.code or known.error_type)
                except Exception:
                    log.exception("wyoming: an event failed (%s)", self.identity)
                    await self._error("internal server error", "server_error")
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.writer.close()

    async def _write(self, event: Event) -> None:
        await async_write_event(event, self.writer)

    async def _error(self, text: str, code: str) -> None:
        await self._write(Error(text=text, code=code).event())

    def _check_open(self) -> None:
        if self.draining.is_set():
            raise WyomingInputError("the server is shutting down; retry", "shutting_down")

    # -- events -----------------------------------------------------------------------
    async def _handle(self, event: Event) -> None:
        if Describe.is_type(event.type):
            await self._write(self._info().event())
        elif Ping.is_type(event.type):
            await self._write(Pong(text=Ping.from_event(event).text).event())
        elif Transcribe.is_type(event.type):
            self._check_open()
            asked = Transcribe.from_event(event)
            model = asked.name or self.settings.stt.default_model
            self.stt.resolve(model)  # an unknown model is an error now, not after the audio
            self._listening = _Listening(model, asked.language)
        elif AudioStart.is_type(event.type):
            await self._audio_start(AudioStart.from_event(event))
        elif AudioChunk.is_type(event.type):
            self._audio_chunk(AudioChunk.from_event(event))
        elif AudioStop.is_type(event.type):
            await self._audio_stop()
        elif SynthesizeStart.is_type(event.type):
            self._check_open()
            start = SynthesizeStart.from_event(event)
            self._streamed_text, self._streamed_voice = (
                [],
                start.voice.name if start.voice else None,
            )
        elif SynthesizeChunk.is_type(event.type):
            await self._synthesize_chunk(SynthesizeChunk.from_event(event).text)
        elif SynthesizeStop.is_type(event.type):
            await self._synthesize_stop()
        elif Synthesize.is_type(event.type):
            if self._streamed_text is not None:
                return  # a streaming client's copy for older servers: already being spoken
            self._check_open()
            said = Synthesize.from_event(event)
            await self._speak([said.text], said.voice.name if said.voice else None)
        else:
            raise WyomingInputError(f"unknown event type {event.type!r}", "unknown_event")

    def _engine(self, voice: Voice) -> str:
        engines = self.tts.engines
        return engines.resolve(engines.engine_for(voice)[0])

    def _info(self) -> Info:
        registry = self.stt.registry
        models = [
            AsrModel(name=model_id, attribution=ATTRIBUTION,
                     installed=registry.is_installed(registry.canonical(model_id)),
                     description=f"Whisper ({model_id})", version=None,
                     languages=sorted(LANGUAGES))
            for model_id in registry.known_ids()
        ]  # fmt: skip
        voices = [
            TtsVoice(name=v.name, attribution=ATTRIBUTION, installed=True, version=None,
                     description=f"{v.description} ({self._engine(v)})",
                     languages=[v.language])
            for v in self.tts.catalog.voices
        ]  # fmt: skip
        return Info(
            asr=[AsrProgram(name="speech-pipeline", attribution=ATTRIBUTION, installed=True,
                            description="speech-pipeline speech-to-text", version=__version__,
                            models=models, supports_transcript_streaming=True)],
            tts=[TtsProgram(name="speech-pipeline", attribution=ATTRIBUTION, installed=True,
                            description="speech-pipeline text-to-speech", version=__version__,
                            voices=voices, supports_synthesize_streaming=True)],
        )  # fmt: skip

    # -- transcription --------------------------------------------------------------------
    async def _audio_start(self, start: AudioStart) -> None:
        listening = self._listening
        if listening is None:
            listening = self._listening = _Listening(self.settings.stt.default_model, None)
        if (
            start.width != SAMPLE_WIDTH
            or not MIN_RATE <= start.rate <= MAX_RATE
            or not (1 <= start.channels <= MAX_CHANNELS)
        ):
            self._listening = None
            raise WyomingInputError(
                f"audio must be 16-bit PCM at {MIN_RATE}-{MAX_RATE} Hz, 1 or 2 channels (got "
                f"width {start.width}, rate {start.rate}, {start.channels} channels)",
                "unsupported_audio",
            )
        listening.rate, listening.channels, listening.started = start.rate, start.channels, True
        await self.limiter.take(self.identity, "requests", 1, {})
        await self.limiter.take(self.identity, "audio-seconds", 0, {})

    def _audio_chunk(self, chunk: AudioChunk) -> None:
        listening = self._listening
        if listening is None or not listening.started:
            raise WyomingInputError("audio-chunk before audio-start", "no_audio_start")
        if (chunk.rate, chunk.width, chunk.channels) != (
            listening.rate,
            SAMPLE_WIDTH,
            listening.channels,
        ):
            raise WyomingInputError(
                "an audio-chunk's format differs from its audio-start's; the chunk was dropped",
                "format_changed",
            )
        limit = self.settings.limits.max_duration_seconds
        if len(listening.pcm) + len(chunk.audio) > limit * listening.rate * 2 * listening.channels:
            self._listening = None
            raise WyomingInputError(f"audio over {limit:.0f} s; dropped", "audio_too_long")
        listening.pcm += chunk.audio

    async def _audio_stop(self) -> None:
        listening, self._listening = self._listening, None
        if listening is None or not listening.started:
            raise WyomingInputError("audio-stop before audio-start", "no_audio_start")
        fields = {"model": listening.model, "language": listening.language}
        request = parse_request(Fields.of(fields), "transcribe", self.settings.stt,
                                needs_source=False)  # fmt: skip
        resolved = self.stt.resolve(listening.model)
        media = io.BytesIO(_wav(listening.pcm, listening.rate, listening.channels))
        cancel = threading.Event()
        durations: list[float] = []
        language = listening.language or "en"
        await self._write(TranscriptStart(language=listening.language).event())
        parts: list[str] = []
        try:
            stream = self.stt.stream(media, resolved, request.options(self.settings.stt),
                                     cancel, durations)  # fmt: skip
            async for segment in stream:
                text = segment.text if parts else segment.text.lstrip()
                parts.append(text)
                await self._write(TranscriptChunk(text=text).event())
        finally:
            cancel.set()
        await self.limiter.charge(self.identity, "audio-seconds", sum(durations))
        await self._write(TranscriptStop().event())
        await self._write(Transcript(text="".join(parts).strip(), language=language).event())

    # -- speech ---------------------------------------------------------------------------
    async def _synthesize_chunk(self, text: str) -> None:
        if self._streamed_text is None:
            raise WyomingInputError(
                "synthesize-chunk before synthesize-start", "no_synthesize_start"
            )
        self._streamed_text.append(text)
        sentences = split_sentences("".join(self._streamed_text))
        if len(sentences) > 1:  # every sentence but the last is complete: speak them now
            done, rest = sentences[:-1], sentences[-1]
            self._streamed_text = [rest]
            await self._speak(done, self._streamed_voice)

    async def _synthesize_stop(self) -> None:
        if self._streamed_text is None:
            raise WyomingInputError(
                "synthesize-stop before synthesize-start", "no_synthesize_start"
            )
        rest, self._streamed_text = "".join(self._streamed_text).strip(), None
        if rest:
            await self._speak([rest], self._streamed_voice)
        await self._write(Event(type="synthesize-stopped"))

    async def _speak(self, texts: list[str], voice_name: str | None) -> None:
        text = " ".join(t.strip() for t in texts if t.strip())
        if not text:
            return
        voice = self.tts.catalog.lookup(voice_name) if voice_name else self.tts.catalog.voices[0]
        model = next(m for m, lang in self.tts.catalog.models.items() if lang == voice.language)
        voice = self.tts.voice_for(model, voice.name)
        if len(text) > self.settings.tts.max_input_chars:
            raise WyomingInputError(
                f"text over {self.settings.tts.max_input_chars} characters", "text_too_long"
            )
        await self.limiter.take(self.identity, "requests", 1, {})
        await self.limiter.take(self.identity, "characters", len(text), {})
        rate = DEFAULT_SPEECH_SAMPLE_RATE
        job = SpeechJob(text, voice, SpeechOptions(), "pcm", rate)
        step = int(AUDIO_CHUNK_SECONDS * rate) * SAMPLE_WIDTH
        await self._write(AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=1).event())
        async for data in self.tts.stream(job):
            for offset in range(0, len(data), step):
                piece = data[offset : offset + step]
                await self._write(AudioChunk(rate=rate, width=SAMPLE_WIDTH, channels=1,
                                             audio=piece).event())  # fmt: skip
        await self._write(AudioStop().event())


def _wav(pcm: bytes | bytearray, rate: int, channels: int) -> bytes:
    body = io.BytesIO()
    with wave.open(body, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(rate)
        out.writeframes(bytes(pcm))
    return body.getvalue()
