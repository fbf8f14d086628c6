"""Text -> sentences -> engine -> shaping: one PCM chunk per sentence."""

from __future__ import annotations

from collections.abc import Iterator

from voices.registry import VoiceEngines
from voices.shaping import reshape
from voices.text import normalise, shorten_first, split_sentences
from voices.types import PcmChunk, SpeechOptions, Voice


class Synthesizer:
    def __init__(self, engines: VoiceEngines) -> None:
        self.engines = engines

    def stream(self, text: str, voice: Voice, options: SpeechOptions) -> Iterator[PcmChunk]:
        """Yield shaped audio sentence by sentence, the first one short (blocking; run off
        the event loop)."""
        engine = self.engines.get(voice.engine)
        rate = voice.rate * options.speed
        for sentence in shorten_first(split_sentences(normalise(text, voice.language))):
            pcm = engine.render(sentence, 1.0)
            if pcm.size == 0:
                continue
            shaped = reshape(pcm, engine.sample_rate, voice.f0_hz, voice.formant, rate)
            yield PcmChunk(shaped, engine.sample_rate)
