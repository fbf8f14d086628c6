"""Shared pieces of the benchmark reports."""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench-out"
"""Raw results (ignored by git)."""


def error_rate(reference: Sequence[str], hypothesis: Sequence[str]) -> float:
    """Levenshtein distance over units (words for WER, characters for CER) / reference length."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1] / max(1, len(reference))


@functools.cache
def _normalizer() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    normalizer: Callable[[str], str] = EnglishTextNormalizer()
    return normalizer


def _norm(text: str) -> list[str]:
    """Words as Whisper's own English evaluations compare them (whisper-normalizer's
    EnglishTextNormalizer): case and punctuation dropped, "Dr." read as "doctor",
    "fifteen percent" as "15%", British spellings as American; so a word counts as
    wrong only when it is a different word. A clock time reads the same written 9:30 or
    9.30 (Whisper writes both)."""
    return _normalizer()(_CLOCK.sub(r"\1:\2", text)).split()


_CLOCK = re.compile(r"(?<![$£€\d.])\b([01]?\d|2[0-3])\.([0-5]\d)\b(?!\.\d)")
"""A time of day written with a dot (9.30), rewritten with a colon."""


def word_error_rate(reference: str, hypothesis: str) -> float:
    return error_rate(_norm(reference), _norm(hypothesis))


def heading(title: str) -> list[str]:
    return [
        f"## {dt.date.today().isoformat()} — {title}",
        "",
        f"Command: `speech-pipeline {' '.join(sys.argv[1:])}`. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {platform.system()}, Python {platform.python_version()}.",
        "",
    ]


def publish(report: str, output: str | None) -> None:
    print(report)
    if output:
        with open(output, "a", encoding="utf-8") as fh:
            fh.write("\n" + report + "\n")
