"""The diarization room: the encoder against the published implementation's numbers,
the checkpoint reader's refusals, clustering, the join, DER, and real conversations."""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from bench.conversations import conversation, monologue, real_speakers
from diarizer.cluster import MAX_LINKAGE_ROWS, cluster
from diarizer.encoder import (
    VoiceEncoder,
    default_weights_path,
    mel_filterbank,
    mel_frames,
    normalize_volume,
)
from diarizer.errors import WeightsInvalid
from diarizer.join import attribute
from diarizer.metrics import der_parts
from diarizer.pipeline import Diarizer
from diarizer.segmented import Segmented
from diarizer.types import DiarizeOptions, SpeakerTurn
from diarizer.weights import LEGACY_MAGIC, read_legacy_checkpoint
from segmenter.vad import SileroVad
from transcriber.types import Segment, Word

from ..helpers import tampered_copy
from .test_ecapa import ecapa_encoder
from .test_segmentation import segmentation_model

# Computed once with resemblyzer 0.1.4's own VoiceEncoder (torch 2.13, CPU) on the same
# mel frames of the signal below: first 12 dimensions, and the 6 largest.
GOLDEN_FIRST = [0.0, 0.0, 0.05828, 0.0, 0.08233, 0.0, 0.0, 0.03432, 0.0, 0.0, 0.0393, 0.0]
GOLDEN_TOP = {186: 0.28915, 83: 0.25567, 79: 0.20249, 57: 0.18843, 121: 0.18616, 148: 0.18106}


@pytest.fixture(scope="module")
def encoder() -> VoiceEncoder:
    return VoiceEncoder.load()


@pytest.fixture(scope="module", params=["ge2e", "ecapa", "ge2e+segmentation"])
def diarizer(request: pytest.FixtureRequest, encoder: VoiceEncoder) -> Diarizer:
    """The diarizer on each speaker encoder, and on GE2E with the segmentation model
    (ECAPA and the segmentation model where `make install` kept their weights)."""
    if request.param == "ecapa":
        return Diarizer(ecapa_encoder(), SileroVad())
    if request.param == "ge2e+segmentation":
        return Diarizer(encoder, SileroVad(), segmentation_model())
    return Diarizer(encoder, SileroVad())


def _signal() -> np.ndarray:
    t = np.arange(25600) / 16000
    voiced = 0.3 * np.sin(2 * np.pi * (140 + 40 * np.sin(2 * np.pi * 3 * t)) * t)
    hiss = 0.1 * np.sin(2 * np.pi * 900 * t) * np.sin(2 * np.pi * 2 * t)
    return (voiced * (1 + np.sin(2 * np.pi * 4 * t)) + hiss).astype(np.float32)


def test_encoder_matches_the_published_model(encoder: VoiceEncoder) -> None:
    mel = mel_frames(normalize_volume(_signal()), mel_filterbank())[:160]
    embedding = encoder.embed_mels(mel[None])[0]
    assert embedding.shape == (256,)
    assert abs(float(np.linalg.norm(embedding)) - 1) < 1e-5
    np.testing.assert_allclose(embedding[:12], GOLDEN_FIRST, atol=1e-4)
    for index, value in GOLDEN_TOP.items():
        assert abs(float(embedding[index]) - value) < 1e-4
    # the clip entry point cuts and normalises the same way
    np.testing.assert_allclose(encoder.embed(_signal()[None])[0], embedding, atol=1e-5)


def test_weights_are_checked_by_sha256(tmp_path: Path) -> None:
    copy = tampered_copy(default_weights_path(), tmp_path / "pretrained.pt")
    with pytest.raises(WeightsInvalid, match="sha256"):
        VoiceEncoder.load(copy)


def test_checkpoint_reader_runs_no_code(tmp_path: Path) -> None:
    """A checkpoint that names any other global is refused before anything runs."""
    evil = tmp_path / "evil.pt"
    buffer = io.BytesIO()
    for header in (LEGACY_MAGIC, 1001, {}):
        pickle.dump(header, buffer, protocol=2)

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    pickle.dump({"model_state": Payload()}, buffer, protocol=2)
    evil.write_bytes(buffer.getvalue())
    with pytest.raises(WeightsInvalid, match="not allowed"):
        read_legacy_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()
    truncated = tmp_path / "short.pt"
    truncated.write_bytes(default_weights_path().read_bytes()[:100_000])
    with pytest.raises(WeightsInvalid):
        read_legacy_checkpoint(truncated)
    digest = hashlib.sha256(default_weights_path().read_bytes()).hexdigest()
    with pytest.raises(WeightsInvalid):
        VoiceEncoder.load(truncated, sha256=None)
    assert digest  # the real file is untouched


def _blob(centre: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    rows = centre + 0.15 * rng.standard_normal((n, centre.shape[0]))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_clustering_finds_the_count_and_obeys_hints() -> None:
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal(64) for _ in range(3))
    two = np.concatenate([_blob(a, 30, rng), _blob(b, 20, rng)]).astype(np.float32)
    labels = cluster(two, DiarizeOptions(), 0.45)
    assert labels.tolist() == [0] * 30 + [1] * 20
    assert set(cluster(_blob(a, 40, rng).astype(np.float32), DiarizeOptions(), 0.45).tolist()) == {
        0
    }
    three = np.concatenate([two, _blob(c, 25, rng).astype(np.float32)])
    assert int(cluster(three, DiarizeOptions(), 0.45).max()) + 1 == 3
    assert int(cluster(three, DiarizeOptions(max_speakers=2), 0.45).max()) + 1 == 2
    one = _blob(a, 40, rng).astype(np.float32)
    assert int(cluster(one, DiarizeOptions(min_speakers=2, max_speakers=2), 0.45).max()) + 1 == 2
    assert cluster(two[:1], DiarizeOptions(), 0.45).tolist() == [0]
    assert cluster(two[:0], DiarizeOptions(), 0.45).tolist() == []


def test_a_file_longer_than_the_linkage_holds_is_clustered_from_a_sample() -> None:
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(64) for _ in range(2))
    rows = MAX_LINKAGE_ROWS + 700  # about 25 minutes of speech, in turns of 200 windows
    turns = [_blob(a if i % 2 == 0 else b, 200, rng) for i in range(-(-rows // 200))]
    embeddings = np.concatenate(turns)[:rows].astype(np.float32)
    expected = (np.arange(rows) // 200 % 2).tolist()
    assert cluster(embeddings, DiarizeOptions(), 0.45).tolist() == expected


def _word(text: str, start: float, end: float) -> Word:
    return Word(text, start, end, 0.9)


def test_join_cuts_a_segment_at_each_change_of_speaker() -> None:
    words = (_word(" Hello", 0.0, 0.4), _word(" there.", 0.4, 0.9), _word(" Hi", 1.1, 1.4),
             _word(" you.", 1.4, 1.8))  # fmt: skip
    segment = Segment(0, 0, 0.0, 1.8, " Hello there. Hi you.", (1, 2, 3), 0.0, -0.2, 1.1, 0.01,
                      words)  # fmt: skip
    turns = [SpeakerTurn(0.0, 1.0, "A"), SpeakerTurn(1.0, 2.0, "B")]
    out = attribute([segment], turns)
    assert [(p.speaker, p.segment.text, p.segment.start, p.segment.end) for p in out] == [
        ("A", " Hello there.", 0.0, 0.9),
        ("B", " Hi you.", 1.1, 1.8),
    ]
    assert [p.segment.id for p in out] == [0, 1]
    whole = attribute([segment], [SpeakerTurn(0.0, 2.0, "A")])
    assert whole[0].segment == segment and whole[0].speaker == "A"
    assert attribute([segment], [])[0].speaker == "A"


def test_a_word_heard_over_a_longer_turn_goes_to_the_newcomer() -> None:
    """Where two turns both cover a word, the one that began later takes it: an
    interjection inside someone's long turn keeps its words (the segmentation model's
    overlapping turns); a word one turn covers more still goes to that turn."""
    words = (_word(" So", 0.0, 0.3), _word(" yeah", 2.0, 2.3), _word(" right.", 2.9, 3.3),
             _word(" Then", 4.0, 4.3))  # fmt: skip
    segment = Segment(0, 0, 0.0, 4.3, " So yeah right. Then", (1,), 0.0, -0.2, 1.1, 0.01, words)
    turns = [SpeakerTurn(0.0, 5.0, "A"), SpeakerTurn(1.8, 3.0, "B")]
    out = attribute([segment], turns)
    assert [(p.speaker, p.segment.text) for p in out] == [
        ("A", " So"), ("B", " yeah"), ("A", " right. Then"),
    ]  # fmt: skip


def test_der_follows_the_definition() -> None:
    ref = [SpeakerTurn(0, 10, "x"), SpeakerTurn(10, 20, "y")]
    assert der_parts(ref, [SpeakerTurn(0, 10, "B"), SpeakerTurn(10, 20, "A")], 0).der == 0
    half = der_parts(ref, [SpeakerTurn(0, 20, "A")], 0)
    assert half.confusion == pytest.approx(10, abs=0.02)
    assert half.der == pytest.approx(0.5, abs=0.01)
    missed = der_parts(ref, [SpeakerTurn(0, 10, "A")], 0)
    assert missed.missed == pytest.approx(10, abs=0.02) and missed.confusion == 0
    false_alarm = der_parts(ref, [SpeakerTurn(0, 10, "A"), SpeakerTurn(10, 25, "B")], 0)
    assert false_alarm.false_alarm == pytest.approx(5, abs=0.02)
    collared = der_parts(ref, [SpeakerTurn(0, 10.1, "A"), SpeakerTurn(10.1, 20, "B")], 0.25)
    assert collared.der == 0


def test_real_two_speaker_conversations(diarizer: Diarizer, shared_samples: Path) -> None:
    """Conversations of the two real voices in ../shared/samples, with overlaps and short
    turns: the count is right and DER (collar 0.25 s) stays under 15%."""
    speakers = real_speakers(shared_samples, diarizer.vad)
    rng = np.random.default_rng(2026)
    error = reference = 0.0
    for i in range(4):
        conv = conversation(f"c{i}", speakers, rng)
        found = diarizer.diarize(conv.samples)
        assert len(found.speakers) == 2, conv.name
        parts = der_parts(conv.turns, found.turns)
        error += parts.der * parts.reference
        reference += parts.reference
    assert error / reference <= 0.15
    alone = diarizer.diarize(monologue("m", speakers[1], rng).samples)
    assert alone.speakers == ("A",)


def test_silence_has_no_speakers(diarizer: Diarizer) -> None:
    assert diarizer.diarize(np.zeros(16000 * 3, np.float32)).turns == ()
    assert diarizer.diarize(np.zeros(0, np.float32)).speakers == ()


def test_cancel_stops_the_work(diarizer: Diarizer, shared_samples: Path) -> None:
    import threading

    speakers = real_speakers(shared_samples, diarizer.vad)
    talk = conversation("c", speakers, np.random.default_rng(5)).samples
    stop = threading.Event()
    stop.set()
    assert diarizer.diarize(talk, cancel=stop).turns == ()
    embedded = diarizer.embed_file(talk, stop)
    assert len(embedded.keys if isinstance(embedded, Segmented) else embedded.windows) == 0
    assert diarizer.diarize(talk, cancel=threading.Event()).turns != ()


def _between(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, float]:
    """`first` cut in two with `second` between its halves (0.3 s pauses); the middle of
    `second` on the timeline."""
    half = first.shape[0] // 2
    gap = np.zeros(4800, np.float32)
    mix = np.concatenate([first[:half], gap, second, gap, first[half:]])
    return mix, (half + 4800 + second.shape[0] / 2) / 16000


def _speaker_at(turns: tuple[SpeakerTurn, ...], at: float) -> set[str]:
    return {t.speaker for t in turns if t.start <= at <= t.end}


def test_a_two_second_turn_of_another_real_voice_is_its_own_speaker(
    diarizer: Diarizer, shared_samples: Path
) -> None:
    """Two seconds of JFK between two stretches of the multilingual.mp3 reader."""
    reader, kennedy = real_speakers(shared_samples, diarizer.vad)
    first = np.concatenate(reader.phrases[:6])[: 16000 * 10]
    mix, middle = _between(first, np.concatenate(kennedy.phrases)[: 16000 * 2])
    found = diarizer.diarize(mix)
    assert len(found.speakers) == 2
    assert _speaker_at(found.turns, middle) == {"B"}
    assert _speaker_at(found.turns, 1.0) == _speaker_at(found.turns, mix.shape[0] / 16000 - 1)
