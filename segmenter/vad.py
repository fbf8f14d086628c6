"""Silero VAD (ONNX) run frame by frame with its recurrent state carried across blocks.

Owned by whoever creates it (the app's lifespan); never a module global. Runs on
any length of audio in bounded memory: blocks of BLOCK_FRAMES frames.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from common.pcm import INT16_SCALE
from segmenter.constants import CONTEXT_SAMPLES, FRAME_SAMPLES
from segmenter.source import SampleSource

BLOCK_FRAMES = 2048
"""Frames per ONNX call (about 65 s of audio)."""
STATE_SHAPE = (1, 1, 128)


def default_model_path() -> Path:
    """The Silero model file that faster-whisper ships."""
    from importlib.resources import files

    assets = Path(str(files("faster_whisper").joinpath("assets")))
    candidates = sorted(assets.glob("silero_vad*.onnx"))
    if not candidates:
        raise FileNotFoundError(f"no silero_vad*.onnx in {assets}")
    return candidates[-1]


@dataclass(frozen=True)
class VadOptions:
    """Tuning of voice activity detection (OpenAI's `server_vad` fields map onto these)."""

    threshold: float = 0.5
    """Speech probability that starts speech."""
    silence_ms: int = 500
    """Silence this long ends a speech region."""
    padding_ms: int = 200
    """Kept on each side of a speech region."""
    min_speech_ms: int = 120
    """Shorter bursts are dropped (clicks)."""


class SileroVad:
    """Speech probability per 32-ms frame."""

    def __init__(self, model_path: Path | None = None) -> None:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(
            str(model_path or default_model_path()),
            providers=["CPUExecutionProvider"],
            sess_options=opts,
        )
        self._lock = threading.Lock()

    def probabilities(self, audio: SampleSource) -> npt.NDArray[np.float32]:
        """One probability per FRAME_SAMPLES frame (the last frame zero-padded).

        `audio` is float32 in [-1, 1] or int16 (scaled here, a block at a time).
        """
        blocks = list(self.probability_blocks(audio))
        return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)

    def probability_blocks(self, audio: SampleSource) -> Iterator[npt.NDArray[np.float32]]:
        """The same probabilities, BLOCK_FRAMES frames at a time, computed as they are
        asked for (streaming plans its first window from the first block)."""
        scale = INT16_SCALE if audio.dtype == np.int16 else 1.0
        frames = -(-audio.shape[0] // FRAME_SAMPLES)
        h = np.zeros(STATE_SHAPE, np.float32)
        c = np.zeros(STATE_SHAPE, np.float32)
        previous = np.zeros(CONTEXT_SAMPLES, np.float32)
        for first in range(0, frames, BLOCK_FRAMES):
            last = min(first + BLOCK_FRAMES, frames)
            block = np.zeros((last - first) * FRAME_SAMPLES, np.float32)
            chunk = audio[first * FRAME_SAMPLES : last * FRAME_SAMPLES]
            block[: chunk.shape[0]] = chunk
            if scale != 1.0:
                block /= scale
            rows = block.reshape(-1, FRAME_SAMPLES)
            context = np.concatenate([previous[None, :], rows[:-1, -CONTEXT_SAMPLES:]])
            batch = np.concatenate([context, rows], axis=1)
            with self._lock:
                probs, h, c = self._session.run(None, {"input": batch, "h": h, "c": c})
            yield np.asarray(probs, np.float32).reshape(-1)
            previous = rows[-1, -CONTEXT_SAMPLES:]
