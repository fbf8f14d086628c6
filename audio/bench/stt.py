"""`speech-pipeline bench stt`: our paths against stock faster-whisper, same process, same audio.

Every figure is a ratio against the control run (a): stock
`faster_whisper.WhisperModel.transcribe`, same weights, compute type, threads
and beam. Results are appended to BENCHMARKS.md with the command, machine and
date; raw numbers go to bench-out/ (not committed).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from audio.bench.report import OUT_DIR, ROOT, heading, publish
from audio.constants import SAMPLE_RATE
from audio.decode import decode_audio
from audio.registry import ModelRegistry
from audio.settings import Settings
from audio.stt import WhisperEngine
from audio.types import Samples, SttOptions


@dataclass(frozen=True)
class Clip:
    name: str
    """File name."""
    samples: Samples
    """Decoded audio."""
    reference: str | None
    """Reference transcript, when known."""


@dataclass(frozen=True)
class Row:
    path: str
    """Which code path ran."""
    audio_seconds: float
    """Total audio transcribed."""
    wall_seconds: float
    """Wall time for all clips."""
    wer: float | None
    """Mean WER over clips with references."""

    @property
    def rtfx(self) -> float:
        return self.audio_seconds / self.wall_seconds


def _norm(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower().replace("/", " ")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = _norm(reference), _norm(hypothesis)
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / max(1, len(ref))


def load_clips() -> list[Clip]:
    refs = json.loads((ROOT / "samples" / "references.json").read_text())
    clips = [
        Clip(name, decode_audio(str(ROOT / "samples" / name)), meta["text"])
        for name, meta in refs.items()
        if meta["language"] == "en"
    ]
    shared = ROOT.parent / "shared" / "samples" / "jfk.flac"
    if shared.is_file():
        jfk = (
            "And so, my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country."
        )
        clips.append(Clip("jfk.flac", decode_audio(str(shared)), jfk))
    return clips


def _timed(name: str, clips: list[Clip], run: Callable[[Samples], str], repeat: int) -> Row:
    best = float("inf")
    texts: list[str] = []
    for _ in range(repeat):
        started = time.perf_counter()
        texts = [run(c.samples) for c in clips]
        best = min(best, time.perf_counter() - started)
    wers = [
        word_error_rate(c.reference, t) for c, t in zip(clips, texts, strict=True) if c.reference
    ]
    audio = sum(c.samples.shape[0] for c in clips) / SAMPLE_RATE
    return Row(name, audio, best, sum(wers) / len(wers) if wers else None)


def run_stt_bench(settings: Settings, args: argparse.Namespace) -> int:
    registry = ModelRegistry(settings.stt)
    model_id = settings.stt.default_model
    model = registry.get(model_id)
    clips = load_clips()
    beam = settings.stt.beam_size

    def stock(samples: Samples) -> str:
        segments, _ = model.transcribe(samples, beam_size=beam)
        return "".join(s.text for s in segments)

    engine = WhisperEngine(model)
    options = SttOptions(beam_size=beam, vad_filter=settings.stt.vad_filter)
    rows = [
        _timed("(a) stock faster-whisper transcribe", clips, stock, args.repeat),
        _timed(
            "(c) speech-pipeline engine",
            clips,
            lambda s: engine.transcribe(s, options).text,
            args.repeat,
        ),
    ]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = _markdown(rows, clips, model_id, settings, peak_mb)
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "stt.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    publish(report, args.output)
    return 0


def _markdown(
    rows: list[Row], clips: list[Clip], model_id: str, settings: Settings, peak_mb: float
) -> str:
    control = rows[0]
    lines = heading("speech-to-text")
    lines += [
        f"Model `{model_id}` ({settings.stt.compute_type}, device {settings.stt.device}), beam "
        f"{settings.stt.beam_size}. Clips: {', '.join(c.name for c in clips)}. "
        f"Peak RSS {peak_mb:.0f} MB. Wall time is the best of the repeats.",
        "",
        "| path | audio s | wall s | RTFx | ratio to (a) | mean WER |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        wer = "n/a" if row.wer is None else f"{row.wer:.3f}"
        lines.append(
            f"| {row.path} | {row.audio_seconds:.1f} | {row.wall_seconds:.2f} | "
            f"{row.rtfx:.1f} | {row.rtfx / control.rtfx:.2f}x | {wer} |"
        )
    return "\n".join(lines)
