"""Shared pieces of the benchmark reports."""

from __future__ import annotations

import datetime as dt
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT_DIR = ROOT / "bench-out"
"""Raw results (ignored by git)."""


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
