"""Decode any media container to 16 kHz mono with PyAV (FFmpeg).

The container is sniffed from the bytes by FFmpeg's probe, never from the
filename or the declared content type. Samples go straight into one growing
buffer (no list of chunks to concatenate, so no second copy of long audio).
`decode_int16` is the chunked engine's input: int16 (half of float32's memory),
and past SPOOL_AFTER_SECONDS in a temporary file instead of memory (the engine
reads one block or window at a time).
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from typing import BinaryIO, TypeVar

import av
import numpy as np
import numpy.typing as npt

from audio.errors import InsufficientStorage, InvalidRequest, UndecodableAudio
from audio.media.spool import SPOOL_AFTER_SECONDS, SpooledSamples
from common.pcm import INT16_SCALE, SAMPLE_RATE
from common.pcm import Float32Pcm as Samples
from segmenter.source import SampleSource

MIN_AUDIO_SECONDS = 0.01
"""Shorter audio is refused with a 400 (contract: Limits)."""

log = logging.getLogger(__name__)


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
            _scale_to_int16(chunk)
        self.data[self.size : need] = chunk
        self.size = need

    def result(self) -> npt.NDArray[np.generic]:
        return self.data[: self.size]


def _scale_to_int16(chunk: npt.NDArray[np.generic]) -> None:
    """float [-1, 1] -> the int16 range, in place (the caller casts)."""
    np.multiply(chunk, INT16_SCALE, out=chunk)
    np.clip(chunk, -INT16_SCALE, INT16_SCALE - 1, out=chunk)


class _SpillingBuffer:
    """int16 samples in memory up to `limit`, then in a SpooledSamples file."""

    def __init__(self, capacity: int, limit: int) -> None:
        self.limit = limit
        self.memory: _Buffer | None = _Buffer(min(capacity, limit), np.int16)
        self.disk: SpooledSamples | None = None
        self.size = 0

    def extend(self, chunk: npt.NDArray[np.generic]) -> None:
        if self.memory is not None and self.size + chunk.shape[0] > self.limit:
            self.disk = SpooledSamples()
            self.disk.append(self.memory.result().astype(np.int16, copy=False))
            self.memory = None
        if self.disk is not None:
            _scale_to_int16(chunk)
            self.disk.append(chunk.astype(np.int16))
        elif self.memory is not None:
            self.memory.extend(chunk)
        self.size += chunk.shape[0]

    def result(self) -> SampleSource:
        if self.disk is not None:
            return self.disk.finish()
        assert self.memory is not None
        return self.memory.result()


def _estimate(container: av.container.InputContainer, sample_rate: int) -> int:
    if container.duration:
        return int(container.duration / av.time_base * sample_rate * 1.02) + sample_rate
    return 0


BufferT = TypeVar("BufferT", _Buffer, _SpillingBuffer)


def decode_audio(
    source: BinaryIO | str, *, max_seconds: float | None = None, sample_rate: int = SAMPLE_RATE
) -> Samples:
    """Return mono float32 samples at `sample_rate`.

    Raises UndecodableAudio for anything FFmpeg cannot read as audio, and
    InvalidRequest for audio shorter than MIN_AUDIO_SECONDS or longer than
    `max_seconds` (checked while decoding, so a huge file stops early).
    """
    buffer = _decode(source, max_seconds, sample_rate, lambda n: _Buffer(n, np.float32))
    return buffer.result().astype(np.float32, copy=False)


def decode_int16(source: BinaryIO | str, *, max_seconds: float | None = None) -> SampleSource:
    """Like decode_audio at 16 kHz, but int16, and spooled to disk when long (a full
    disk is InsufficientStorage, a 503)."""
    limit = int(SPOOL_AFTER_SECONDS * SAMPLE_RATE)
    try:
        buffer = _decode(source, max_seconds, SAMPLE_RATE, lambda n: _SpillingBuffer(n, limit))
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            log.error("spooling decoded audio failed: %s", exc)
            raise InsufficientStorage() from exc
        raise
    return buffer.result()


def _decode(
    source: BinaryIO | str, max_seconds: float | None, sample_rate: int,
    make_buffer: Callable[[int], BufferT],
) -> BufferT:  # fmt: skip
    """Decode into the buffer `make_buffer(estimated samples)` makes; checks the length."""
    max_samples = None if max_seconds is None else int(max_seconds * sample_rate)
    try:
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudio("no audio stream")
            stream = container.streams.audio[0]
            buffer = make_buffer(_estimate(container, sample_rate))
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
    return buffer


def _too_long(max_seconds: float | None) -> InvalidRequest:
    return InvalidRequest(
        f"audio is longer than the maximum duration of {max_seconds:g} seconds", param="file"
    )
