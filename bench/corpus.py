"""Reproducible benchmark audio: fixed English text rendered by the project's voices.

The text is fixed and Piper runs without noise (no duration or timbre jitter),
so every run transcribes the same speech; references are the text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from audio.media.encode import encode_whole, resample
from common.pcm import SAMPLE_RATE
from transcriber.types import Samples

PARAGRAPHS = (
    "The city council met on Tuesday evening to discuss the new bicycle lanes. Several "
    "residents spoke in favour of the plan, while shop owners worried about parking. The "
    "council agreed to publish a revised map before the next meeting.",
    "Our support team answers questions every day from eight in the morning until six in "
    "the evening. If you need help outside those hours, please send us an email and we will "
    "reply the next working day.",
    "The recipe is simple. Mix the flour, the sugar and a pinch of salt in a large bowl. Add "
    "the eggs one at a time, then pour in the warm milk and stir until the batter is smooth.",
    "Scientists studying the northern forests have counted more birds this spring than in "
    "any year since the survey began. They believe the mild winter helped many species "
    "survive, although some insects have become less common.",
    "Please remember that the library will be closed on Monday for repairs to the heating "
    "system. Books that are due that day can be returned on Tuesday without any late fee.",
    "The train to the coast leaves from platform four at half past nine. Passengers with "
    "bicycles should use the last carriage, and food is served in the middle of the train.",
    "Learning a new language takes patience. Short daily practice works better than long "
    "sessions once a week, and speaking with other people helps you remember new words.",
    "The museum has opened a new exhibition about the history of flight. Visitors can sit in "
    "a real cockpit, watch old films of early pilots and build their own paper aeroplanes.",
)
VOICES = ("Fritz-PlayAI", "Celeste-PlayAI", "Atlas-PlayAI", "Gail-PlayAI")
PAUSE_SECONDS = 0.6


@dataclass(frozen=True)
class Clip:
    name: str
    """Label."""
    samples: Samples
    """16 kHz mono float32."""
    reference: str
    """What is said."""

    @property
    def seconds(self) -> float:
        return float(self.samples.shape[0]) / SAMPLE_RATE


def speak(
    lines: Sequence[tuple[str, str]], english_engine: Literal["piper", "kokoro"] = "piper"
) -> list[list[Samples]]:
    """Each (text, voice id) rendered by the project's voices without timbre noise, and
    without pacing (the same chunks on every run): the chunks (sentences) the
    synthesizer renders it in, each at 16 kHz. English on Piper (the corpus every bench
    has used) unless Kokoro is asked for."""
    from audio.settings import TtsSettings
    from audio.wiring import voice_engines
    from voices.catalog import VoiceCatalog
    from voices.synthesizer import Synthesizer
    from voices.types import SpeechOptions

    catalog = VoiceCatalog.load()
    settings = TtsSettings(piper_noise_scale=0.0, english_engine=english_engine)
    synthesizer = Synthesizer(voice_engines(settings), paced=False)
    return [
        [resample(chunk.samples, chunk.sample_rate, SAMPLE_RATE)
         for chunk in synthesizer.stream(text, catalog.lookup(voice), SpeechOptions())]
        for text, voice in lines
    ]  # fmt: skip


def cycling_voices(texts: Sequence[str]) -> list[tuple[str, str]]:
    """The texts paired with the benchmark voices in turn."""
    return [(text, VOICES[index % len(VOICES)]) for index, text in enumerate(texts)]


def render_paragraphs() -> list[Clip]:
    """Each paragraph once, voices cycling: about 2 minutes of speech."""
    pause = np.zeros(int(PAUSE_SECONDS * SAMPLE_RATE), np.float32)
    clips = []
    for index, chunks in enumerate(speak(cycling_voices(PARAGRAPHS))):
        pieces = [piece for chunk in chunks for piece in (chunk, pause)]
        clips.append(Clip(f"paragraph-{index + 1}", np.concatenate(pieces), PARAGRAPHS[index]))
    return clips


def render_sentences() -> list[Clip]:
    """Each sentence of the paragraphs as a clip of its own, voices cycling: short clips
    whose words are known exactly."""
    sentences = [s.strip().rstrip(".") + "." for p in PARAGRAPHS for s in p.split(". ")]
    return [
        Clip(f"sentence-{index + 1}", np.concatenate(chunks), sentences[index])
        for index, chunks in enumerate(speak(cycling_voices(sentences)))
    ]


def long_form(clips: list[Clip], minimum_seconds: float) -> Clip:
    """The paragraphs back to back, repeated until `minimum_seconds`."""
    pieces: list[Samples] = []
    texts: list[str] = []
    while sum(p.shape[0] for p in pieces) < minimum_seconds * SAMPLE_RATE:
        for clip in clips:
            pieces.append(clip.samples)
            texts.append(clip.reference)
    return Clip(f"long-{minimum_seconds:.0f}s", np.concatenate(pieces), " ".join(texts))


def first_seconds(clip: Clip, seconds: float) -> Samples:
    return clip.samples[: int(seconds * SAMPLE_RATE)]


def encoded(samples: Samples, response_format: str) -> bytes:
    """Benchmark audio as an upload: a whole file in `response_format` (wav, mp3, ...)."""
    return encode_whole([(samples, SAMPLE_RATE)], response_format, SAMPLE_RATE)
