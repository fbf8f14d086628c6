"""PCM -> the speech response formats, whole or as a stream (no HTTP here).

WAV is always PCM (format 1), 16-bit, mono: whole files carry exact sizes,
streamed ones 0xFFFFFFFF (as OpenAI's do). pcm is raw s16le, mulaw raw G.711.
mp3, flac, ogg/opus and aac go through PyAV (FFmpeg's encoders).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np
import soxr

from common.pcm import Float32Pcm as Samples
from common.pcm import to_int16

SPEECH_MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",
    "pcm": "audio/pcm",
    "mulaw": "audio/basic",
}
"""Each speech response format and its Content-Type."""
SPEECH_FORMATS: tuple[str, ...] = tuple(SPEECH_MEDIA_TYPES)
SPEECH_SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
DEFAULT_SPEECH_SAMPLE_RATE = 24000
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
STREAMING_WAV_SIZE = 0xFFFFFFFF
SENT_WHOLE = frozenset({"flac"})
"""Formats sent as one whole file even when streaming is asked for: a FLAC written as it
goes has no sample count in its STREAMINFO (FFmpeg fills it in only when it can seek
back), and libsndfile, under soundfile and many tools, then reports 9.2e18 frames and
cannot read it. The others stream in forms every reader takes."""


@dataclass(frozen=True)
class _Container:
    format: str
    """FFmpeg muxer."""
    codec: str
    """FFmpeg encoder."""


_CONTAINERS = {
    "mp3": _Container("mp3", "libmp3lame"),
    "flac": _Container("flac", "flac"),
    "ogg": _Container("ogg", "libopus"),
    "opus": _Container("ogg", "libopus"),
    "aac": _Container("adts", "aac"),
}


def resample(samples: Samples, from_rate: int, to_rate: int) -> Samples:
    """High-quality resampling (libsoxr, VHQ)."""
    if from_rate == to_rate:
        return samples.astype(np.float32, copy=False)
    out: Samples = soxr.resample(samples, from_rate, to_rate, quality="VHQ").astype(np.float32)
    return out


def mulaw(samples: Samples) -> bytes:
    """G.711 mu-law (ITU-T), one byte per sample."""
    pcm = to_int16(samples).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return bytes((~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes())


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """44-byte PCM WAV header; None writes the streaming 0xFFFFFFFF sizes."""
    riff = STREAMING_WAV_SIZE if data_bytes is None else 36 + data_bytes
    data = STREAMING_WAV_SIZE if data_bytes is None else data_bytes
    return (
        b"RIFF" + struct.pack("<I", riff) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data" + struct.pack("<I", data)
    )  # fmt: skip


class SpeechEncoder:
    """Encodes PCM pushed in pieces; `push` and `close` return the bytes ready to send.

    Whole files (streaming=False) keep container bytes until `close`, so headers
    that FFmpeg rewrites at the end (FLAC's STREAMINFO) are complete.
    """

    def __init__(self, fmt: str, sample_rate: int, streaming: bool) -> None:
        if fmt not in SPEECH_FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.format = fmt
        self.sample_rate = sample_rate
        self.streaming = streaming
        self._raw = io.BytesIO()  # whole-file wav: data collected for exact sizes
        self._buffer = io.BytesIO()
        self._sent = 0
        self._header_sent = False
        self._container: av.container.OutputContainer | None = None
        self._stream: av.audio.stream.AudioStream | None = None
        self._pts = 0
        if fmt in _CONTAINERS:
            spec = _CONTAINERS[fmt]
            rate = self._codec_rate(spec.codec)
            self._container = av.open(self._buffer, "w", format=spec.format)
            stream = self._container.add_stream(spec.codec, rate=rate, layout="mono")
            assert isinstance(stream, av.audio.stream.AudioStream)
            self._stream = stream
            self._codec_rate_hz = rate

    def _codec_rate(self, codec: str) -> int:
        if codec == "libopus" and self.sample_rate not in OPUS_RATES:
            return 48000
        return self.sample_rate

    def push(self, samples: Samples, rate: int) -> bytes:
        pcm = resample(samples, rate, self.sample_rate)
        if self.format == "wav":
            data = to_int16(pcm).tobytes()
            if not self.streaming:
                self._raw.write(data)
                return b""
            header = b"" if self._header_sent else wav_header(self.sample_rate, None)
            self._header_sent = True
            return header + data
        if self.format == "pcm":
            return to_int16(pcm).tobytes()
        if self.format == "mulaw":
            return mulaw(pcm)
        return self._encode(pcm)

    def _encode(self, pcm: Samples) -> bytes:
        assert self._container is not None and self._stream is not None
        if self._codec_rate_hz != self.sample_rate:
            pcm = resample(pcm, self.sample_rate, self._codec_rate_hz)
        frame = av.AudioFrame.from_ndarray(
            to_int16(pcm).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = self._codec_rate_hz
        frame.pts = self._pts
        self._pts += pcm.shape[0]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._drain() if self.streaming else b""

    def _drain(self) -> bytes:
        data = self._buffer.getvalue()[self._sent :]
        self._sent += len(data)
        return data

    def close(self) -> bytes:
        """Flush the encoder; for whole files, return everything not yet returned."""
        if self.format == "wav":
            if self.streaming:
                return b"" if self._header_sent else wav_header(self.sample_rate, None)
            data = self._raw.getvalue()
            return wav_header(self.sample_rate, len(data)) + data
        if self._container is None or self._stream is None:
            return b""
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        if not self.streaming:
            return self._buffer.getvalue()  # complete, header rewrites included
        return self._drain()


def encode_whole(chunks: list[tuple[Samples, int]], fmt: str, sample_rate: int) -> bytes:
    encoder = SpeechEncoder(fmt, sample_rate, streaming=False)
    parts = [encoder.push(samples, rate) for samples, rate in chunks]
    return b"".join(parts) + encoder.close()
