"""Decode any media container to 16 kHz mono with PyAV (FFmpeg).

The container is sniffed from the bytes by FFmpeg's probe, never from the
filename or the declared content type. Samples go straight into one growing
buffer (no list of chunks to concatenate, so no second copy of long audio);
`compact=True` stores them as int16, half the memory of float32, for the
chunked engine which converts one window at a time.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

import av
import numpy as np
import numpy.typing as npt

from audio.constants import MIN_AUDIO_SECONDS, SAMPLE_RATE
from audio.errors import InvalidRequest, UndecodableAudio
from audio.types import Samples

log = logging.getLogger(__name__)

INT16_SCALE = 32768.0


class _Buffer:
    """An array that grows geometrically, trimmed at the end."""

    def __init__(self, capacity: int, dtype: type[np.generic]) -> None:
        self.data: npt.NDArray[np.generic] = np.empty(max(capacity, 1 << 16), dtype)
        self.size = 0

    def extend(self, chunk: npt.NDArray[np.generic]) -> None:
        need = self.size + chunk.shape[0]
        if need > self.data.shape[0]:
            grown = np.empty(max(need, self.data.shape[0] * 3 // 2), self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        if self.data.dtype == np.int16:
            np.multiply(chunk, INT16_SCALE, out=chunk)
            np.clip(chunk, -INT16_SCALE, INT16_SCALE - 1, out=chunk)
        self.data[self.size : need] = chunk
        self.size = need

    def result(self) -> npt.NDArray[np.generic]:
        return self.data[: self.size]


def _estimate(container: av.container.InputContainer, sample_rate: int) -> int:
    if container.duration:
        return int(container.duration / av.time_base * sample_rate * 1.02) + sample_rate
    return 0


def decode_audio(
    source: BinaryIO | str, *, max_seconds: float | None = None,
    sample_rate: int = SAMPLE_RATE, compact: bool = False,
) -> Samples:  # fmt: skip
    """Return mono samples at `sample_rate`: float32, or int16 when `compact`.

    Raises UndecodableAudio for anything FFmpeg cannot read as audio, and
    InvalidRequest for audio shorter than MIN_AUDIO_SECONDS or longer than
    `max_seconds` (checked while decoding, so a huge file stops early).
    """
    max_samples = None if max_seconds is None else int(max_seconds * sample_rate)
    try:
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudio("no audio stream")
            stream = container.streams.audio[0]
            buffer = _Buffer(_estimate(container, sample_rate), np.int16 if compact else np.float32)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    buffer.extend(out.to_ndarray().reshape(-1))
                if max_samples is not None and buffer.size > max_samples:
                    raise _too_long(max_seconds)
            for out in resampler.resample(None):
                buffer.extend(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, ValueError, EOFError, IndexError) as exc:
        log.debug("decode failed: %r", exc)
        raise UndecodableAudio(str(exc)) from exc
    total = buffer.size
    if max_samples is not None and total > max_samples:
        raise _too_long(max_seconds)
    if total == 0:
        raise UndecodableAudio("no audio samples")
    if total < MIN_AUDIO_SECONDS * sample_rate:
        raise InvalidRequest(
            f"audio is too short: {total / sample_rate:.4f} s; the minimum is "
            f"{MIN_AUDIO_SECONDS} s",
            param="file",
        )
    return buffer.result()  # type: ignore[return-value]


def _too_long(max_seconds: float | None) -> InvalidRequest:
    return InvalidRequest(
        f"audio is longer than the maximum duration of {max_seconds:g} seconds", param="file"
    )
