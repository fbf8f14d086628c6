"""Who spoke when, beside the transcription of the same audio.

The audio is decoded once; the diarizer (the segmentation model's local speakers, or
VAD windows; speaker embeddings; clustering) runs on its own thread while the
transcriber decodes, and the two are joined word by word (`diarizer.join`). The
speaker encoder and the segmentation model are loaded once on first use and unloaded
when idle, in the same `ModelCache` as every other model. Built by `audio.wiring`.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import BinaryIO

from audio.errors import InvalidRequest, ModelUnavailable
from audio.media.decode import decode_audio
from audio.services.request import Reference
from audio.services.stt import SttService
from audio.settings import DiarizationSettings, Settings
from common.modelcache import ModelCache
from common.pcm import SAMPLE_RATE
from diarizer import ecapa, segmentation
from diarizer.ecapa import EcapaEncoder
from diarizer.encoder import VoiceEncoder
from diarizer.errors import DiarizerError, EncoderNotInstalled
from diarizer.join import SpeakerSegment, attribute
from diarizer.pipeline import Diarizer
from diarizer.segmentation import SegmentationModel
from diarizer.types import DiarizeOptions, KnownSpeaker, SpeakerEncoder
from transcriber.registry import Resolved
from transcriber.types import SttOptions, Transcript

log = logging.getLogger(__name__)

REFERENCES_PARAM = "known_speaker_references"
REFERENCE_DECODE_SECONDS = 60.0
"""A reference longer than this is not decoded to the end (it is refused either way)."""


def load_encoder(settings: DiarizationSettings) -> SpeakerEncoder:
    """The configured speaker encoder, its weights checked (DiarizerError)."""
    if settings.encoder == "ecapa":
        return EcapaEncoder.load(settings.ecapa_dir / ecapa.WEIGHTS_FILE)
    return VoiceEncoder.load(settings.weights)


def load_segmentation(settings: DiarizationSettings) -> SegmentationModel | None:
    """The segmentation model where the settings ask for it, checked (DiarizerError).
    None where they do not, or where its weights are absent and the setting was left at
    its default (the VAD windows then, with a warning)."""
    if not settings.segmentation:
        return None
    try:
        return SegmentationModel.load(settings.ecapa_dir / segmentation.WEIGHTS_FILE)
    except EncoderNotInstalled as exc:
        if "segmentation" in settings.model_fields_set:
            raise
        log.warning("diarizing with VAD windows: %s", exc)
        return None


@dataclass(frozen=True)
class DiarizedTranscript:
    """A transcript with a speaker for every segment."""

    transcript: Transcript
    """The transcription as without diarization."""
    segments: tuple[SpeakerSegment, ...]
    """Its segments cut at each change of speaker, each with its speaker."""


class DiarizeService:
    def __init__(self, settings: Settings, stt: SttService) -> None:
        self.settings = settings
        self.stt = stt
        self._diarizers: ModelCache[Diarizer] = ModelCache(
            "speaker encoder", settings.stt.model_ttl_seconds
        )

    def diarizer(self) -> Diarizer:
        """The diarizer, its encoder loaded once (503 when its weights are absent)."""
        settings = self.settings.diarization

        def load() -> Diarizer:
            try:
                return Diarizer(load_encoder(settings), self.stt.vad, load_segmentation(settings))
            except DiarizerError as exc:
                raise ModelUnavailable(f"Diarization is unavailable: {exc}") from exc

        return self._diarizers.get(settings.encoder, load)

    def options(self, min_speakers: int | None, max_speakers: int | None) -> DiarizeOptions:
        defaults = DiarizeOptions()
        return DiarizeOptions(
            min_speakers=min_speakers or defaults.min_speakers,
            max_speakers=max_speakers or defaults.max_speakers,
            threshold=self.settings.diarization.threshold,  # None: the encoder's own
        )

    def known_speakers(self, references: Sequence[Reference]) -> list[KnownSpeaker]:
        """Each reference's voice; 400 naming the reference that is not 2-10 s of audio."""
        limits = self.settings.diarization
        known: list[KnownSpeaker] = []
        for index, ref in enumerate(references):
            param = f"{REFERENCES_PARAM}[{index}]"
            try:
                audio = decode_audio(io.BytesIO(ref.audio), max_seconds=REFERENCE_DECODE_SECONDS)
            except InvalidRequest as exc:
                raise InvalidRequest(f"{param} ({ref.name!r}): {exc.message}", param=param) from exc
            seconds = audio.shape[0] / SAMPLE_RATE
            if not limits.reference_min_seconds <= seconds <= limits.reference_max_seconds:
                raise InvalidRequest(
                    f"{param} ({ref.name!r}) is {seconds:.1f} s long; a reference must be "
                    f"{limits.reference_min_seconds:g} to {limits.reference_max_seconds:g} s",
                    param=param,
                )
            known.append(self.diarizer().known_speaker(ref.name, audio))
        return known

    def transcribe_now(
        self, media: BinaryIO | str, model_id: str, options: SttOptions,
        diarize: DiarizeOptions, references: Sequence[Reference] = (),
        cancel: threading.Event | None = None,
    ) -> DiarizedTranscript:  # fmt: skip
        """Blocking: transcribe and diarize one file (the diarizer on a second thread)."""
        known = self.known_speakers(references)
        options = replace(options, word_timestamps=True, segment_timestamps=True)
        source = self.stt.decode(media, options)
        diarizer = self.diarizer()
        stop = threading.Event()
        with ThreadPoolExecutor(1, thread_name_prefix="diarize") as side:
            turns = side.submit(diarizer.diarize, source, diarize, known, stop)
            try:
                transcript = self.stt.transcribe_samples_now(source, model_id, options, cancel)
            except BaseException:
                stop.set()  # the client left or the decode failed: stop diarizing too
                raise
            diarization = turns.result()
        segments = attribute(transcript.segments, diarization.turns)
        return DiarizedTranscript(transcript, tuple(segments))

    async def transcribe(
        self, media: BinaryIO | str, resolved: Resolved, options: SttOptions,
        diarize: DiarizeOptions, references: Sequence[Reference] = (),
        cancel: threading.Event | None = None,
    ) -> DiarizedTranscript:  # fmt: skip
        """Run it in the bounded pool (503 when its queue is full)."""
        return await self.stt.run(
            lambda stop: self.transcribe_now(
                media, resolved.served, options, diarize, references, stop
            ),
            cancel,
        )

    def prune(self) -> None:
        self._diarizers.unload_idle()

    def close(self) -> None:
        self._diarizers.close()
