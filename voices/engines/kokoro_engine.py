"""Kokoro-82M (int8 ONNX) through `kokoro-onnx`: one session shared by every speaker.

The session is made once per process (`KokoroLibrary`, held by the registry's shared
cache); each speaker is a `KokoroEngine` that renders with its own style vectors.
Phonemes come from espeak-ng (`espeakng-loader`), as for every other voice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from voices.kokoro import SAMPLE_RATE, SPEAKERS, model_path, voices_path
from voices.types import Pcm

MIN_SPEED, MAX_SPEED = 0.5, 2.0
"""The speeds Kokoro's graph takes (a voice's rate times the request's speed, clamped)."""


class KokoroLibrary:
    """The ONNX session, the tokenizer and every speaker's style vectors."""

    def __init__(self, directory: Path, threads: int = 0) -> None:
        import onnxruntime
        from kokoro_onnx import Kokoro

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, every core
        options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            str(model_path(directory)), options, providers=_providers(onnxruntime)
        )
        self.kokoro = Kokoro.from_session(session, str(voices_path(directory)))
        self.langs = {s.name: s.lang for s in SPEAKERS}
        self.on_gpu = session.get_providers()[0] == "CUDAExecutionProvider"

    def render(self, speaker: str, text: str, speed: float) -> Pcm:
        speed = min(max(speed, MIN_SPEED), MAX_SPEED)
        audio, _rate = self.kokoro.create(text, voice=speaker, speed=speed,
                                          lang=self.langs[speaker])  # fmt: skip
        return np.asarray(audio, np.float32)


def _providers(onnxruntime: object) -> list[str]:
    """CUDA first where this onnxruntime has it (a GPU build), else the CPU."""
    available: list[str] = onnxruntime.get_available_providers()  # type: ignore[attr-defined]
    preferred = [p for p in ("CUDAExecutionProvider",) if p in available]
    return [*preferred, "CPUExecutionProvider"]


class KokoroEngine:
    """One Kokoro speaker (a `SentenceEngine`)."""

    def __init__(self, library: KokoroLibrary, speaker: str) -> None:
        if speaker not in library.langs:
            raise ValueError(f"not a Kokoro English speaker: {speaker!r}")
        self._library = library
        self.speaker = speaker

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def render(self, sentence: str, rate: float) -> Pcm:
        return self._library.render(self.speaker, sentence, rate)
