"""Load the declarative voice catalog (catalog.toml) and look voices up."""

from __future__ import annotations

import tomllib
from importlib.resources import files
from typing import Any

from voices.types import Voice, VoiceError


class VoiceCatalog:
    """Voices and TTS models by any name, case-insensitively."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.models: dict[str, str] = dict(data["models"])
        """TTS model id -> language."""
        self.voices: tuple[Voice, ...] = tuple(
            Voice(**{**v, "aliases": tuple(v.get("aliases", ()))}) for v in data["voice"]
        )
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
