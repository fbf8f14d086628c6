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
        engine_id, shaped = self.engines.engine_for(voice)
        engine = self.engines.get(engine_id)
        rate = voice.rate * options.speed
        for sentence in shorten_first(split_sentences(normalise(text, voice.language))):
            if not shaped:  # a speaker of its own: only its rate is asked of the engine
                pcm = engine.render(sentence, rate)
                if pcm.size:
                    yield PcmChunk(pcm, engine.sample_rate)
                continue
            pcm = engine.render(sentence, 1.0)
            if pcm.size == 0:
                continue
            reshaped = reshape(pcm, engine.sample_rate, voice.f0_hz, voice.formant, rate)
            yield PcmChunk(reshaped, engine.sample_rate)
