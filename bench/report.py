"""Shared pieces of the benchmark reports."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from collections.abc import Sequence
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
