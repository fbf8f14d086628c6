"""Every container of the contract, sniffed from the bytes, to 16 kHz mono float32."""

from __future__ import annotations

import io

import av
import httpx
import numpy as np
import pytest
import soundfile as sf

from audio.media.decode import decode_audio
from common.pcm import SAMPLE_RATE

from ..helpers import SAMPLES, wav_bytes

HELLO = SAMPLES / "hello_en.wav"

# (container format, codec, extension users would give it)
CONTAINERS = [
    ("flac", "flac", "flac"),
    ("mp3", "mp3", "mp3"),
    ("ipod", "aac", "m4a"),
    ("mp4", "aac", "mp4"),
    ("ogg", "libopus", "ogg"),
    ("webm", "libopus", "webm"),
    ("wav", "pcm_s16le", "wav"),
]


def _encode(fmt: str, codec: str, stereo: bool = True) -> bytes:
    data, rate = sf.read(str(HELLO), dtype="float32")
    if codec == "libopus":
        rate_out = 48000
        idx = np.linspace(0, len(data) - 1, int(len(data) * rate_out / rate))
        data, rate = np.interp(idx, np.arange(len(data)), data).astype(np.float32), rate_out
    layout = "stereo" if stereo else "mono"
    planes = np.stack([data, data * 0.5]) if stereo else data.reshape(1, -1)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        frame_size = stream.codec_context.frame_size or 1024
        fmt_name = stream.codec_context.format.name
        for start in range(0, planes.shape[1], frame_size):
            chunk = np.ascontiguousarray(planes[:, start : start + frame_size])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            if fmt_name != "fltp":
                frame = av.AudioResampler(format=fmt_name, layout=layout, rate=rate).resample(
                    frame
                )[0]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def encoded() -> dict[str, bytes]:
    return {f"{fmt}-{codec}": _encode(fmt, codec) for fmt, codec, _ in CONTAINERS}


@pytest.mark.parametrize(("fmt", "codec", "ext"), CONTAINERS)
def test_decode_every_container(encoded: dict[str, bytes], fmt: str, codec: str, ext: str) -> None:
    samples = decode_audio(io.BytesIO(encoded[f"{fmt}-{codec}"]))
    assert samples.dtype == np.float32 and samples.ndim == 1
    expected = sf.info(str(HELLO)).duration
    assert abs(samples.shape[0] / SAMPLE_RATE - expected) < 0.1


def test_stereo_is_downmixed() -> None:
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    left = 0.5 * np.sin(2 * np.pi * 440 * t).astype(np.float32)
    stereo = np.stack([left, -left], axis=1).reshape(-1)  # opposite phases cancel
    samples = decode_audio(io.BytesIO(wav_bytes(stereo, channels=2)))
    assert samples.shape == (SAMPLE_RATE,)
    assert float(np.abs(samples).max()) < 0.01


@pytest.mark.parametrize(("fmt", "codec", "ext"), CONTAINERS)
def test_http_upload_ignores_name_and_type(
    server: str, encoded: dict[str, bytes], fmt: str, codec: str, ext: str
) -> None:
    """A misleading filename and content type: the bytes decide."""
    response = httpx.post(
        f"{server}/v1/audio/transcriptions",
        data={"model": "whisper-1"},
        files={"file": ("upload.txt", encoded[f"{fmt}-{codec}"], "text/plain")},
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert "hello" in response.json()["text"].lower()


def test_long_audio_for_the_chunked_engine_is_spooled_to_disk() -> None:
    from audio.media.decode import decode_int16
    from audio.media.spool import SPOOL_AFTER_SECONDS, SpooledSamples
    from segmenter.vad import SileroVad

    rng = np.random.default_rng(7)
    seconds = SPOOL_AFTER_SECONDS + 10
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    signal = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(t) > 0) + rng.normal(0, 0.01, t.size)
    body = wav_bytes(signal.astype(np.float32))
    spooled = decode_int16(io.BytesIO(body))
    in_memory = decode_audio(io.BytesIO(body))
    assert isinstance(spooled, SpooledSamples)
    assert spooled.shape == in_memory.shape and spooled.dtype == np.int16
    whole = spooled[0 : spooled.shape[0]]
    assert np.abs(whole / 32768.0 - in_memory).max() < 1e-3
    assert np.array_equal(spooled[1000:1010], whole[1000:1010])
    assert spooled[-5:].shape == (5,)
    vad = SileroVad()
    assert np.allclose(vad.probabilities(spooled), vad.probabilities(whole), atol=1e-5)
    short = decode_int16(HELLO.open("rb"))
    assert isinstance(short, np.ndarray) and short.dtype == np.int16
