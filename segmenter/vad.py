"""Silero VAD (ONNX) run frame by frame with its recurrent state carried across blocks.

Owned by whoever creates it (the app's lifespan); never a module global. Runs on
any length of audio in bounded memory: blocks of BLOCK_FRAMES frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from common.pcm import INT16_SCALE
from segmenter.constants import CONTEXT_SAMPLES, FRAME_SAMPLES
from segmenter.source import SampleSource

BLOCK_FRAMES = 512
"""Frames per ONNX call (about 16 s of audio). The probabilities do not depend on it
(the state carries across calls), and neither does the speed (10 minutes in 1.1 s at
2048, 1024 and 512), but ONNX Runtime's working memory does: +67 MB for one pass at
2048 frames, +34 MB at 1024, +16 MB at 512; two passes at once (a diarized request's
transcriber and diarizer) +108, +58 and +29 MB."""
STATE_SHAPE = (1, 1, 128)
_F32 = npt.NDArray[np.float32]


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
            probs, h, c = self._run(batch, h, c)
            yield probs
            previous = rows[-1, -CONTEXT_SAMPLES:]

    def stream(self) -> VadStream:
        """A live stream's VAD: probabilities of frames as their samples arrive."""
        return VadStream(self)

    def _run(self, batch: _F32, h: _F32, c: _F32) -> tuple[_F32, _F32, _F32]:
        """(probabilities, h, c) of one batch of frames with their context."""
        # One session for every request: ONNX Runtime's Run is safe to call from many
        # threads at once, and the recurrent state is the caller's, so a clip's VAD never
        # waits behind another request's block (about 16 s of audio, 20 ms of work).
        probs, h, c = self._session.run(None, {"input": batch, "h": h, "c": c})
        return np.asarray(probs, np.float32).reshape(-1), h, c


class VadStream:
    """Silero over audio that arrives in pieces of any length (a realtime session): the
    recurrent state and the last frame's context carry from one push to the next."""

    def __init__(self, vad: SileroVad) -> None:
        self._vad = vad
        self._h = np.zeros(STATE_SHAPE, np.float32)
        self._c = np.zeros(STATE_SHAPE, np.float32)
        self._previous = np.zeros(CONTEXT_SAMPLES, np.float32)
        self._rest = np.zeros(0, np.float32)
        self.frames = 0
        """Frames scored so far (frame i covers samples [i, i + 1) * FRAME_SAMPLES)."""

    def push(self, samples: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Speech probabilities of the whole frames completed by `samples` (float32 at
        16 kHz); the samples of an unfinished frame wait for the next push."""
        audio = np.concatenate([self._rest, samples.astype(np.float32, copy=False)])
        whole = audio.shape[0] // FRAME_SAMPLES
        self._rest = audio[whole * FRAME_SAMPLES :].copy()
        if whole == 0:
            return np.zeros(0, np.float32)
        rows = audio[: whole * FRAME_SAMPLES].reshape(whole, FRAME_SAMPLES)
        context = np.concatenate([self._previous[None, :], rows[:-1, -CONTEXT_SAMPLES:]])
        probs, self._h, self._c = self._vad._run(
            np.concatenate([context, rows], axis=1), self._h, self._c
        )
        self._previous = rows[-1, -CONTEXT_SAMPLES:].copy()
        self.frames += whole
        return probs
