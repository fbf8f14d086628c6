"""Load the declarative voice catalog (catalog.toml) and look voices up."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any

from voices.kokoro import SPEAKERS, Speaker
from voices.types import Voice, VoiceError

PIPER_FALLBACK = "piper:en_US-joe-medium"
"""How a Kokoro speaker sounds where Kokoro is off: the Piper voice, shaped by gender."""
FALLBACK_SHAPE = {"female": (205.0, 1.15), "male": (115.0, 0.98)}
"""Gender -> (f0_hz, formant) of that Piper rendering."""


def speaker_voice(speaker: Speaker) -> Voice:
    """A Kokoro speaker served under its own name (`af_heart`)."""
    f0, formant = FALLBACK_SHAPE[speaker.gender]
    return Voice(
        name=speaker.name, language="en", gender=speaker.gender, age="adult",
        description=f"{speaker.description}; {speaker.accent} English (Kokoro)",
        engine=PIPER_FALLBACK, f0_hz=f0, formant=formant, rate=1.0, aliases=(),
        speaker=speaker.name, accent=speaker.accent,
    )  # fmt: skip


class VoiceCatalog:
    """Voices and TTS models by any name, case-insensitively."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.models: dict[str, str] = dict(data["models"])
        """TTS model id -> language."""
        accents = {s.name: s.accent for s in SPEAKERS}
        listed = tuple(
            Voice(**{**v, "aliases": tuple(v.get("aliases", ())),
                     "accent": accents.get(v.get("speaker", ""))})
            for v in data["voice"]
        )  # fmt: skip
        self.voices: tuple[Voice, ...] = listed + tuple(speaker_voice(s) for s in SPEAKERS)
        """The catalog's voices, then every Kokoro speaker under its own name."""
        self._by_name: dict[str, Voice] = {}
        for voice in self.voices:
            for name in (voice.name, *voice.aliases):
                key = name.lower()
                if key in self._by_name:
                    raise ValueError(f"voice name {name!r} is used twice in the catalog")
                self._by_name[key] = voice

    @classmethod
    def load(cls) -> VoiceCatalog:
        text = files("voices").joinpath("catalog.toml").read_text(encoding="utf-8")
        return cls(tomllib.loads(text))

    def has_voice(self, name: str) -> bool:
        return name.strip().lower() in self._by_name

    def add_aliases(self, aliases: dict[str, str]) -> None:
        """The operator's ids: a TTS model id's alias speaks that model's language, a
        voice's alias selects that voice; other targets (STT models) are not the
        catalog's."""
        for alias, target in aliases.items():
            if target in self.models:
                self.models[alias] = self.models[target]
            elif self.has_voice(target):
                self._by_name.setdefault(alias.lower(), self._by_name[target.strip().lower()])

    def model_language(self, model: str) -> str | None:
        return self.models.get(model)

    def names(self, language: str) -> list[str]:
        """Every accepted name for a language: canonical names, then aliases."""
        voices = [v for v in self.voices if v.language == language]
        return [v.name for v in voices] + [a for v in voices for a in v.aliases]

    def lookup(self, name: str, language: str | None = None) -> Voice:
        """The voice called `name` (or an alias); VoiceError if unknown or of another language."""
        voice = self._by_name.get(name.strip().lower())
        if voice is None or (language is not None and voice.language != language):
            valid = self.names(language) if language else [v.name for v in self.voices]
            why = "is not a voice" if voice is None else f"is not a {language} voice"
            raise VoiceError(f"voice {name[:64]!r} {why}", valid)
        return voice
