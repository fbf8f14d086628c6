"""Decode any media container to 16 kHz mono float32 with PyAV (FFmpeg).

The container is sniffed from the bytes by FFmpeg's probe, never from the
filename or the declared content type.
"""

from __future__ import annotations

import logging
from typing import BinaryIO

import av
import numpy as np

from audio.constants import MIN_AUDIO_SECONDS, SAMPLE_RATE
from audio.errors import InvalidRequest, UndecodableAudio
from audio.types import Samples

log = logging.getLogger(__name__)


def decode_audio(
    source: BinaryIO | str, *, max_seconds: float | None = None, sample_rate: int = SAMPLE_RATE
) -> Samples:
    """Return mono float32 samples at `sample_rate`.

    Raises UndecodableAudio for anything FFmpeg cannot read as audio, and
    InvalidRequest for audio shorter than MIN_AUDIO_SECONDS or longer than
    `max_seconds` (checked while decoding, so a huge file stops early).
    """
    max_samples = None if max_seconds is None else int(max_seconds * sample_rate)
    chunks: list[Samples] = []
    total = 0
    try:
        with av.open(source, mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise UndecodableAudio("no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    total += _append(chunks, out)
                if max_samples is not None and total > max_samples:
                    raise _too_long(max_seconds)
            for out in resampler.resample(None):
                total += _append(chunks, out)
    except (av.error.FFmpegError, ValueError, EOFError, IndexError) as exc:
        log.debug("decode failed: %r", exc)
        raise UndecodableAudio(str(exc)) from exc
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
    return np.concatenate(chunks)


def _append(chunks: list[Samples], frame: av.AudioFrame) -> int:
    data = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
    chunks.append(data)
    return int(data.shape[0])


def _too_long(max_seconds: float | None) -> InvalidRequest:
    return InvalidRequest(
        f"audio is longer than the maximum duration of {max_seconds:g} seconds", param="file"
    )
