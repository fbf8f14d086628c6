"""`speech-pipeline bench batch`: an archive's batch beside a person's 5-s request, and
the same folder run locally and on Ray.

A fresh server process. Control: `samples/hello_en.wav` (4.8 s) sent alone, five times.
Then a batch of 20 minutes of speech (ten 2-minute files of the benchmark paragraphs,
uploaded once to `/files` and named by id) runs inside the server while the same clip is
sent every 2 s; reported: the clip's latency against its solo latency, and the batch's
throughput (files and audio hours per hour of wall time).

Ray: 200 generated files (the opening 1.2-3 s of the project's clips) through
`speech-pipeline batch DIR` in this machine's process, then with `--ray` on a Ray head
this bench starts on 127.0.0.1 (2 actors); wall times exclude neither start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.corpus import encoded, long_form, render_paragraphs
from bench.report import ROOT, heading, publish
from bench.server import free_port
from bench.stt import server_process

CLIP = ROOT / "samples" / "hello_en.wav"
FILES = 10
FILE_SECONDS = 120.0
ENDPOINT = "/v1/audio/transcriptions"
RAY_FILES = 200


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
        "The docstring of `bench/batch.py` says how. In-server runner "
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
    lines_md += _ray_rows()
    publish("\n".join(lines_md), args.output)
    return 0


def generated_archive(root: Path, files: int) -> float:
    """`files` generated WAV files in `root` (the opening 1.2-3 s of the project's clips);
    their total seconds."""
    from audio.media.decode import decode_audio

    names = ("hello_en.wav", "weather_en.mp3")
    clips = [decode_audio(str(ROOT / "samples" / name)) for name in names]
    total = 0.0
    for index in range(files):
        audio = clips[index % 2][: int((1.2 + (index % 10) * 0.2) * 16000)]
        (root / f"item{index:03d}.wav").write_bytes(encoded(audio, "wav"))
        total += audio.shape[0] / 16000
    return total


def _timed_cli(*args: str) -> float:
    started = time.monotonic()
    env = {**os.environ, "SPEECH_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "audio.cli", "batch", *args]
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.monotonic() - started


def _ray_rows() -> list[str]:
    try:
        import ray  # noqa: F401
    except ImportError:
        return ["", "Ray is not installed (`pip install '.[ray]'`): no Ray figures."]
    ray_bin = str(Path(sys.executable).with_name("ray"))
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "archive"
        folder.mkdir()
        seconds = generated_archive(folder, RAY_FILES)
        local = _timed_cli(str(folder), "--out", str(Path(tmp) / "local.jsonl"))
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        head = [ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={tmp}/ray"]  # fmt: skip
        subprocess.run(head, check=True, capture_output=True, env=env)
        try:
            clustered = _timed_cli(str(folder), "--out", str(Path(tmp) / "ray.jsonl"), "--ray",
                                   f"127.0.0.1:{port}")  # fmt: skip
        finally:
            subprocess.run([ray_bin, "stop", "--force"], capture_output=True, env=env)
    hours = seconds / 3600
    return [
        "",
        f"| {RAY_FILES} generated files ({seconds / 60:.1f} min of audio) | files/hour | "
        "audio-hours/hour | wall s |",
        "|---|---|---|---|",
        f"| this process (`batch DIR`, 2 files in flight) | {RAY_FILES / local * 3600:.0f} | "
        f"{hours / local * 3600:.1f} | {local:.1f} |",
        f"| Ray head on 127.0.0.1 (`--ray`, 2 actors) | {RAY_FILES / clustered * 3600:.0f} | "
        f"{hours / clustered * 3600:.1f} | {clustered:.1f} |",
        f"| Ray's overhead | {clustered / local - 1:+.0%} | | target ≤ 15% |",
    ]
