"""espeak-ng (formant synthesis, every language) through `espeakng-loader`'s library.

libespeak-ng keeps global state, so one `EspeakLibrary` per process serialises
calls with a lock; `EspeakEngine` binds a voice (language) to it.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from common.pcm import to_float32
from voices.types import Pcm

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_PARAM_RATE = 1
DEFAULT_WPM = 175
"""espeak-ng's default speaking rate, words per minute."""
MIN_WPM, MAX_WPM = 80, 450

_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class EspeakLibrary:
    """The loaded libespeak-ng, initialised once, used under a lock."""

    def __init__(self) -> None:
        from pathlib import Path

        import espeakng_loader

        self._lib = ctypes.cdll.LoadLibrary(espeakng_loader.get_library_path())
        data = Path(espeakng_loader.get_data_path())
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data.parent).encode(), 0
        )
        if rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        self.sample_rate = int(rate)
        self._lock = threading.Lock()
        self._chunks: list[Pcm] = []
        self._callback = _Callback(self._on_audio)  # kept alive for the library's lifetime
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if count > 0:
            samples = np.ctypeslib.as_array(wav, shape=(count,))
            self._chunks.append(to_float32(samples))
        return 0

    def synthesize(self, text: str, voice: str, wpm: int) -> Pcm:
        raw = text.encode("utf-8")
        with self._lock:
            self._chunks = []
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise ValueError(f"espeak-ng has no voice {voice!r}")
            self._lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
            self._lib.espeak_Synth(raw, len(raw) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


class EspeakEngine:
    def __init__(self, library: EspeakLibrary, voice: str) -> None:
        self._library = library
        self._voice = voice

    @property
    def sample_rate(self) -> int:
        return self._library.sample_rate

    def render(self, sentence: str, rate: float) -> Pcm:
        wpm = int(min(max(DEFAULT_WPM * rate, MIN_WPM), MAX_WPM))
        return self._library.synthesize(sentence, self._voice, wpm)
