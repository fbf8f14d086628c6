"""Appended audio: base64 of 16-bit PCM at 24 kHz or G.711 at 8 kHz -> float32 at 16 kHz."""

from __future__ import annotations

import base64
import binascii

import numpy as np
import numpy.typing as npt
import soxr

from common.pcm import INT16_SCALE, SAMPLE_RATE, Float32Pcm
from realtime.errors import SessionError
from realtime.types import FORMAT_RATES, InputFormat


def _ulaw_table() -> npt.NDArray[np.float32]:
    """ITU-T G.711 mu-law: each byte's linear value."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = ((((u & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return (np.where(u & 0x80, -magnitude, magnitude) / INT16_SCALE).astype(np.float32)


def _alaw_table() -> npt.NDArray[np.float32]:
    """ITU-T G.711 A-law: each byte's linear value."""
    a = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return (np.where(a & 0x80, magnitude, -magnitude) / INT16_SCALE).astype(np.float32)


_TABLES = {"g711_ulaw": _ulaw_table(), "g711_alaw": _alaw_table()}


def decode_base64(data: object) -> bytes:
    """The bytes of an `audio` field; SessionError if it is not base64."""
    if not isinstance(data, str):
        raise SessionError("`audio` must be a base64 string", "invalid_value", "audio")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SessionError("`audio` is not valid base64", "invalid_value", "audio") from exc


def to_samples(raw: bytes, fmt: InputFormat) -> Float32Pcm:
    """Samples in [-1, 1] at the format's own rate."""
    if fmt == "pcm16":
        if len(raw) % 2:
            raise SessionError(
                "pcm16 audio must be whole 16-bit samples (an even number of bytes), got "
                f"{len(raw)} bytes",
                "invalid_value",
                "audio",
            )
        return (np.frombuffer(raw, "<i2").astype(np.float32) / INT16_SCALE).astype(np.float32)
    return _TABLES[fmt][np.frombuffer(raw, np.uint8)]


class Resampler:
    """One session's audio to 16 kHz, continuous across appends (soxr keeps the filter
    state, so frame edges do not click)."""

    def __init__(self, fmt: InputFormat) -> None:
        self.format = fmt
        self._stream = soxr.ResampleStream(FORMAT_RATES[fmt], SAMPLE_RATE, 1, dtype="float32")

    def push(self, samples: Float32Pcm) -> Float32Pcm:
        out = self._stream.resample_chunk(samples)
        return np.asarray(out, np.float32).reshape(-1)
