"""`speech-pipeline bench batch`: an archive's batch beside a person's 5-s request.

A fresh server process. Control: `samples/hello_en.wav` (4.8 s) sent alone, five times.
Then a batch of 20 minutes of speech (ten 2-minute files of the benchmark paragraphs,
uploaded once to `/files` and named by id) runs inside the server while the same clip is
sent every 2 s; reported: the clip's latency against its solo latency, and the batch's
throughput (files and audio hours per hour of wall time).
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from typing import Any

import httpx

from audio.bench.corpus import encoded, long_form, render_paragraphs
from audio.bench.report import ROOT, heading, publish
from audio.bench.stt import server_process

CLIP = ROOT / "samples" / "hello_en.wav"
FILES = 10
FILE_SECONDS = 120.0
ENDPOINT = "/v1/audio/transcriptions"


def _clip_latency(client: httpx.Client, body: bytes) -> float:
    started = time.monotonic()
    client.post("/v1/audio/transcriptions", data={"model": "whisper-1", "language": "en"},
                files={"file": ("clip.wav", body, "audio/wav")}).raise_for_status()  # fmt: skip
    return time.monotonic() - started


def run_batch_bench(args: argparse.Namespace) -> int:
    long = long_form(render_paragraphs(), FILE_SECONDS)
    audio = encoded(long.samples[: int(FILE_SECONDS * 16000)], "mp3")
    clip = CLIP.read_bytes()
    env = {"SPEECH_LOG_LEVEL": "warning", "SPEECH_STT__FALLBACK_MODEL": "whisper-base"}
    with server_process(env) as (url, _process), httpx.Client(base_url=url, timeout=600) as c:
        _clip_latency(c, clip)
        solo = [_clip_latency(c, clip) for _ in range(5)]
        uploaded = c.post("/v1/files", data={"purpose": "user_data"},
                          files={"file": ("long.mp3", audio)}).json()  # fmt: skip
        lines = [json.dumps({"custom_id": f"f{i}", "method": "POST", "url": ENDPOINT,
                             "body": {"model": "whisper-1", "language": "en",
                                      "url": uploaded["id"]}}) for i in range(FILES)]  # fmt: skip
        source = c.post("/v1/files", data={"purpose": "batch"},
                        files={"file": ("in.jsonl", "\n".join(lines).encode())}).json()  # fmt: skip
        started = time.monotonic()
        batch = c.post("/v1/batches", json={"input_file_id": source["id"], "endpoint": ENDPOINT,
                                            "completion_window": "24h"}).json()  # fmt: skip
        during: list[float] = []
        done = threading.Event()

        def probe() -> None:
            with httpx.Client(base_url=url, timeout=600) as prober:
                while not done.is_set():
                    during.append(_clip_latency(prober, clip))
                    done.wait(2.0)

        thread = threading.Thread(target=probe)
        thread.start()
        while True:
            state: dict[str, Any] = c.get(f"/v1/batches/{batch['id']}").json()
            if state["status"] in ("completed", "failed", "expired", "cancelled"):
                break
            time.sleep(0.5)
        wall = time.monotonic() - started
        done.set()
        thread.join()
    counts = state["request_counts"]
    solo_p50, during_p50 = statistics.median(solo), statistics.median(during)
    hours = FILES * FILE_SECONDS / 3600
    lines_md = heading("batch beside interactive requests")
    lines_md += [
        "The docstring of `audio/bench/batch.py` says how. In-server runner "
        "(`SPEECH_BATCH__WORKERS=1`), embedded base model, 2 CPU cores.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| batch | {FILES} files x {FILE_SECONDS / 60:.0f} min = {hours * 60:.0f} min of speech; "
        f"{counts['completed']} completed, {counts['failed']} failed, status {state['status']} "
        "| |",
        f"| batch wall time | {wall:.0f} s = {FILES / wall * 3600:.0f} files/hour, "
        f"{hours / wall * 3600:.1f} audio-hours/hour | |",
        f"| 5-s clip alone, p50 | {solo_p50:.2f} s | |",
        f"| 5-s clip while the batch runs, p50 ({len(during)} requests) | {during_p50:.2f} s "
        f"= {during_p50 / solo_p50:.2f}x alone (p95 "
        f"{sorted(during)[int(0.95 * (len(during) - 1))]:.2f} s) | ≤ 1.5x |",
    ]
    publish("\n".join(lines_md), args.output)
    return 0
