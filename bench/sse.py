"""`speech-pipeline bench sse`: time to the first SSE delta against the whole transcript.

Control: the same file, same server, without `stream` (time to the full JSON body).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx

from audio.settings import Settings
from bench.corpus import encoded, first_seconds, long_form, render_paragraphs
from bench.report import OUT_DIR, heading, publish
from bench.server import serving

SAMPLE_NAME = "multilingual.mp3"
"""The real-speech file in `--samples DIR`; without it, 60 s of generated speech."""
SAMPLE_SECONDS = 60.0
REPEATS = 3


def _first_delta(client: httpx.Client, body: bytes, algorithm: str) -> tuple[float, float]:
    started = time.perf_counter()
    first: float | None = None
    with client.stream("POST", "/v1/audio/transcriptions", data={
        "model": "whisper-base", "stream": "true", "algorithm": algorithm,
    }, files={"file": ("m.mp3", body, "audio/mpeg")}) as response:  # fmt: skip
        for line in response.iter_lines():
            if first is None and "transcript.text.delta" in line:
                first = time.perf_counter() - started
    assert first is not None, "no delta"
    return first, time.perf_counter() - started


def _whole(client: httpx.Client, body: bytes, algorithm: str) -> float:
    started = time.perf_counter()
    client.post("/v1/audio/transcriptions", data={"model": "whisper-base", "algorithm": algorithm},
                files={"file": ("m.mp3", body, "audio/mpeg")}).raise_for_status()  # fmt: skip
    return time.perf_counter() - started


LONG_SECONDS = 600.0
"""The generated long file: the first delta should not grow with the file."""


def _long_mp3() -> bytes:
    samples = first_seconds(long_form(render_paragraphs(), LONG_SECONDS), LONG_SECONDS)
    return encoded(samples, "mp3")


def _row(client: httpx.Client, body: bytes, algorithm: str) -> tuple[dict[str, list[float]], str]:
    runs: dict[str, list[float]] = {"first": [], "complete": [], "whole": []}
    for _ in range(REPEATS):
        first, complete = _first_delta(client, body, algorithm)
        runs["first"].append(first)
        runs["complete"].append(complete)
        runs["whole"].append(_whole(client, body, algorithm))
    f, c, w = (statistics.median(runs[k]) for k in ("first", "complete", "whole"))
    return runs, f"{f:.2f} | {c:.2f} | {w:.2f} | {f / w:.0%} | {f / c:.0%} |"


def _sample(samples_dir: str | None) -> tuple[str, bytes]:
    """(name, mp3 bytes) of the 60-s file: real speech from `--samples`, else generated."""
    if samples_dir:
        path = Path(samples_dir) / SAMPLE_NAME
        return path.name, path.read_bytes()
    speech = long_form(render_paragraphs(), SAMPLE_SECONDS)
    return "generated 60 s", encoded(first_seconds(speech, SAMPLE_SECONDS), "mp3")


def run_sse_bench(settings: Settings, args: argparse.Namespace) -> int:
    name, body = _sample(args.samples)
    long_body = _long_mp3()
    lines = heading("SSE transcription (stream=true)")
    lines += [
        f"Over loopback, median of {REPEATS}: `{name}` (60 s), and {LONG_SECONDS / 60:.0f} "
        "minutes of generated English speech (mp3, the STT bench's paragraphs). Control: the "
        "same request without `stream` (time to the whole JSON body). The last column "
        "divides by the stream's own completion (its `transcript.text.done`).",
        "",
        "| file | algorithm | first delta s | stream complete s | whole JSON s "
        "| first delta / whole | first delta / stream complete |",
        "|---|---|---|---|---|---|---|",
    ]
    raw = {}
    cases = [
        (name, body, "chunked"),
        (name, body, "sequential"),
        (f"generated {LONG_SECONDS / 60:.0f} min", long_body, "chunked"),
    ]
    with serving(settings) as url, httpx.Client(base_url=url, timeout=600) as client:
        _whole(client, body, "chunked")  # load the model
        for label, data, algorithm in cases:
            raw[f"{label} {algorithm}"], cells = _row(client, data, algorithm)
            lines.append(f"| {label} | {algorithm} | {cells}")
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "sse.json").write_text(json.dumps(raw, indent=2))
    publish("\n".join(lines), args.output)
    return 0
