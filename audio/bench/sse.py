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

from audio.bench.report import OUT_DIR, ROOT, heading, publish
from audio.bench.server import serving
from audio.settings import Settings

SAMPLE = ROOT.parent / "shared" / "samples" / "multilingual.mp3"
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


def run_sse_bench(settings: Settings, args: argparse.Namespace, sample: Path = SAMPLE) -> int:
    body = sample.read_bytes()
    lines = heading("SSE transcription (stream=true)")
    lines += [
        f"File `{sample.name}` (60 s), over loopback, median of {REPEATS}. Control: the same "
        "request without `stream` (time to the whole JSON body). The last column divides by "
        "the stream's own completion (its `transcript.text.done`).",
        "",
        "| algorithm | first delta s | stream complete s | whole JSON s | first delta / whole "
        "| first delta / stream complete |",
        "|---|---|---|---|---|---|",
    ]
    raw = {}
    with serving(settings) as url, httpx.Client(base_url=url, timeout=600) as client:
        _whole(client, body, "chunked")  # load the model
        for algorithm in ("chunked", "sequential"):
            firsts, completes, wholes = [], [], []
            for _ in range(REPEATS):
                first, complete = _first_delta(client, body, algorithm)
                firsts.append(first)
                completes.append(complete)
                wholes.append(_whole(client, body, algorithm))
            f, c, w = (statistics.median(x) for x in (firsts, completes, wholes))
            raw[algorithm] = {"first": firsts, "complete": completes, "whole": wholes}
            lines.append(
                f"| {algorithm} | {f:.2f} | {c:.2f} | {w:.2f} | {f / w:.0%} | {f / c:.0%} |"
            )
    OUT_DIR.mkdir(exist_ok=True)
    (OUT_DIR / "sse.json").write_text(json.dumps(raw, indent=2))
    publish("\n".join(lines), args.output)
    return 0
