"""Arabic diacritization before phonemization (piper's libtashkeel port, ONNX)."""

from __future__ import annotations

import threading
from typing import Any

from voices.engines import SentenceEngine
from voices.types import Pcm


def load_diacritizer() -> Any:
    from piper.tashkeel import TashkeelDiacritizer

    return TashkeelDiacritizer()


class DiacritizingEngine:
    """Adds harakat to Arabic text, then renders it with the wrapped engine."""

    def __init__(self, engine: SentenceEngine, diacritizer: Any) -> None:
        self._engine = engine
        self._diacritizer = diacritizer
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return self._engine.sample_rate

    def render(self, sentence: str, rate: float) -> Pcm:
        with self._lock:
            diacritized = str(self._diacritizer(sentence))
        return self._engine.render(diacritized, rate)
