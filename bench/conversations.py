"""Test conversations with a known answer to "who spoke when", built from real speech.

Each speaker's recording is cut into phrases at its pauses (the segmenter's VAD, fine
settings); a conversation places phrases of alternating speakers one after another with
random gaps, some of them negative (overlapping speech), and some short turns (the first
0.4-1.0 s of a phrase: "yes", "right"). The reference turn of each placed phrase is its
whole span. Used by `bench diarize` and the tests; nothing here is committed audio.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.media.decode import decode_audio
from common.pcm import SAMPLE_RATE
from diarizer.types import SpeakerTurn
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import speech_regions
from transcriber.types import Samples

PHRASE_VAD = VadOptions(threshold=0.5, silence_ms=200, padding_ms=30, min_speech_ms=300)
MAX_PHRASE_SECONDS = 4.0
LEVEL_DBFS = -24.0


@dataclass(frozen=True)
class Speaker:
    """One voice and its phrases."""

    name: str
    """Reference label."""
    phrases: tuple[Samples, ...]
    """16-kHz speech pieces of at most MAX_PHRASE_SECONDS."""


@dataclass(frozen=True)
class Conversation:
    """Mixed audio and its reference turns."""

    name: str
    samples: Samples
    """16-kHz float32."""
    turns: tuple[SpeakerTurn, ...]
    """Reference turns (overlapping where the speech overlaps)."""

    @property
    def speakers(self) -> int:
        return len({t.speaker for t in self.turns})


def _level(samples: Samples) -> Samples:
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) or 1.0
    return (samples * np.float32(10 ** (LEVEL_DBFS / 20) / rms)).astype(np.float32)


def phrases(samples: Samples, vad: SileroVad) -> tuple[Samples, ...]:
    """Speech pieces of a recording cut at its pauses (long phrases cut in pieces)."""
    out: list[Samples] = []
    longest = int(MAX_PHRASE_SECONDS * SAMPLE_RATE)
    for start, end in speech_regions(vad.probabilities(samples), samples.shape[0], PHRASE_VAD):
        pieces = -(-(end - start) // longest)
        bounds = np.linspace(start, end, pieces + 1).round().astype(int)
        out += [samples[a:b] for a, b in itertools.pairwise(bounds)]
    return tuple(_level(p) for p in out if p.shape[0] >= SAMPLE_RATE // 2)


def real_speakers(samples_dir: Path, vad: SileroVad) -> list[Speaker]:
    """The two real voices of ../shared/samples: JFK and the reader of the English half
    of multilingual.mp3."""
    jfk = decode_audio(str(samples_dir / "jfk.flac"))
    reader = decode_audio(str(samples_dir / "multilingual.mp3"))[: 30 * SAMPLE_RATE]
    return [Speaker("jfk", phrases(jfk, vad)), Speaker("reader", phrases(reader, vad))]


def conversation(
    name: str, speakers: Sequence[Speaker], rng: np.random.Generator, turns: int = 14,
    overlap_share: float = 0.25, short_share: float = 0.2,
) -> Conversation:  # fmt: skip
    """Alternating turns of `speakers` (each turn a different speaker from the last)."""
    placed: list[tuple[int, Samples, str]] = []
    cursor = 0
    last = -1
    for _ in range(turns):
        choices = [i for i in range(len(speakers)) if i != last] or [0]
        who = int(rng.choice(choices))
        last = who
        speaker = speakers[who]
        piece = speaker.phrases[int(rng.integers(len(speaker.phrases)))]
        if rng.random() < short_share:
            piece = piece[: int(rng.uniform(0.4, 1.0) * SAMPLE_RATE)]
        if placed and rng.random() < overlap_share:
            gap = -rng.uniform(0.2, 0.6)
        else:
            gap = rng.uniform(0.1, 0.8)
        start = max(0, cursor + int(gap * SAMPLE_RATE)) if placed else int(0.3 * SAMPLE_RATE)
        placed.append((start, piece, speaker.name))
        cursor = start + piece.shape[0]
    total = max(s + p.shape[0] for s, p, _ in placed) + int(0.3 * SAMPLE_RATE)
    mix = np.zeros(total, np.float32)
    reference: list[SpeakerTurn] = []
    for at, piece, label in placed:
        mix[at : at + piece.shape[0]] += piece
        reference.append(SpeakerTurn(at / SAMPLE_RATE, (at + piece.shape[0]) / SAMPLE_RATE, label))
    peak = float(np.max(np.abs(mix))) or 1.0
    if peak > 0.99:
        mix *= np.float32(0.99 / peak)
    return Conversation(name, mix, tuple(reference))


def monologue(
    name: str, speaker: Speaker, rng: np.random.Generator, turns: int = 8
) -> Conversation:
    """One speaker alone (the speaker count must come out as 1)."""
    return conversation(name, [speaker], rng, turns, overlap_share=0.0)
