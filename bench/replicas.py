"""`speech-pipeline bench batch --replicas 2`: two replicas against one, on one machine.

A throwaway PostgreSQL on loopback holds the job store; the replicas are `serve`
processes sharing it and one files directory. The batch: FILES generated clips
(1.2-3 s, the opening of the project's samples) named in the lines as data URLs, so the
work is decoding and transcription. Rows, each a fresh database, ROUNDS rounds, median:
- one replica, one line at a time (`SPEECH_BATCH__WORKERS=1`, the default);
- one replica, two lines at a time (`WORKERS=2`);
- two replicas, one line at a time each, the batch created on the first.
Then the store alone: STORE_LINES no-op lines claimed four at a time and finished, one
transaction each, on PostgreSQL and on SQLite: the ceiling the database puts on a replica.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from bench.batch import ENDPOINT, generated_archive
from bench.postgres import create_database, postgres_server, why_not
from bench.report import heading, publish
from bench.stt import server_process

FILES = 40
ROUNDS = 3
STORE_LINES = 2000


@contextmanager
def replicas(
    env: dict[str, str], count: int, database: str, root: Path
) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """`count` `serve` processes sharing `database` and one files directory under `root`,
    each with a data directory of its own and the name `replica-N`."""
    shared = {**env, "SPEECH_BATCH__DATABASE_URL": database,
              "SPEECH_BATCH__FILES_DIR": str(root / "files")}  # fmt: skip
    with ExitStack() as stack:
        yield [stack.enter_context(server_process({
            **shared, "SPEECH_BATCH__REPLICA": f"replica-{i}",
            "SPEECH_BATCH__DATA_DIR": str(root / f"data-{i}")})) for i in range(count)]  # fmt: skip


def _batch_wall(
    base: str, tmp: Path, count: int, workers: int, body: bytes
) -> tuple[float, dict[str, int]]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    env = {"SPEECH_LOG_LEVEL": "warning", "SPEECH_STT__FALLBACK_MODEL": "whisper-base",
           "SPEECH_BATCH__WORKERS": str(workers)}  # fmt: skip
    with replicas(env, count, create_database(base, name), tmp / name) as servers:
        urls = [url for url, _process in servers]
        with httpx.Client(base_url=urls[0], timeout=600) as client:
            source = client.post("/v1/files", data={"purpose": "batch"},
                                 files={"file": ("in.jsonl", body)}).json()  # fmt: skip
            started = time.monotonic()
            batch = client.post("/v1/batches", json={
                "input_file_id": source["id"], "endpoint": ENDPOINT,
                "completion_window": "24h"}).json()  # fmt: skip
            while (state := client.get(f"/v1/batches/{batch['id']}").json())["status"] not in (
                "completed", "failed", "expired", "cancelled"):  # fmt: skip
                time.sleep(0.2)
            wall = time.monotonic() - started
            output = client.get(f"/v1/files/{state['output_file_id']}/content").text
    by: dict[str, int] = {}
    for line in output.splitlines():
        replica = json.loads(line)["x_replica"]
        by[replica] = by.get(replica, 0) + 1
    assert sum(by.values()) == FILES, by
    return wall, by


def _store_rate(url: str, tmp: Path) -> float:
    """Lines per second the store alone claims and finishes (one thread, 4 per claim)."""
    from jobs.store import JobStore
    from jobs.types import Line, Outcome

    store = JobStore(url, tmp / f"files-{uuid.uuid4().hex[:6]}", 0, "anonymous")
    try:
        lines = [Line(i, f"c{i}", {}) for i in range(STORE_LINES)]
        batch = store.create_batch("bench", ENDPOINT, "file-x", 3600, "24h", None, lines)
        outcome = Outcome(200, {"text": "hello"}, "req_1")
        started = time.monotonic()
        while claimed := store.claim(batch.id, "bench", 4):
            for line in claimed:
                store.finish_line(batch.id, line, outcome, "bench")
        return STORE_LINES / (time.monotonic() - started)
    finally:
        store.close()


def run_replicas_bench(args: argparse.Namespace) -> int:
    reason = why_not()
    if reason is not None:
        print(f"bench batch --replicas needs PostgreSQL: {reason}")
        return 1
    rows: dict[str, list[float]] = {}
    shares: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmp_name, postgres_server() as base:
        tmp = Path(tmp_name)
        folder = tmp / "archive"
        folder.mkdir()
        seconds = generated_archive(folder, FILES)
        body = "\n".join(json.dumps({
            "custom_id": path.stem, "method": "POST", "url": ENDPOINT,
            "body": {"model": "whisper-1", "language": "en", "url": "data:audio/wav;base64,"
                     + base64.b64encode(path.read_bytes()).decode()}})
            for path in sorted(folder.iterdir())).encode()  # fmt: skip
        setups = {"one replica, 1 line at a time": (1, 1),
                  "one replica, 2 lines at a time": (1, 2),
                  "two replicas, 1 line at a time each": (2, 1)}  # fmt: skip
        for _ in range(ROUNDS):
            for label, (count, workers) in setups.items():
                wall, by = _batch_wall(base, tmp, count, workers, body)
                rows.setdefault(label, []).append(wall)
                shares[label] = by
        pg = _store_rate(create_database(base, "store_rate"), tmp)
        sqlite = _store_rate(f"sqlite:///{tmp / 'rate.sqlite3'}", tmp)
    control = statistics.median(rows["one replica, 1 line at a time"])
    lines = heading("batch: two replicas against one")
    lines += [
        "The docstring of `bench/replicas.py` says how: "
        f"{FILES} generated clips ({seconds / 60:.1f} min of audio), a throwaway PostgreSQL, "
        f"median of {ROUNDS} rounds, embedded base model, this machine's cores shared by "
        "every replica.",
        "",
        "| setup | wall s (median) | lines/hour | vs one replica | lines per replica |",
        "|---|---|---|---|---|",
    ]
    for label, walls in rows.items():
        wall = statistics.median(walls)
        split = ", ".join(f"{k}: {v}" for k, v in sorted(shares[label].items()))
        lines.append(f"| {label} | {wall:.1f} | {FILES / wall * 3600:.0f} | "
                     f"{control / wall:.2f}x | {split} |")  # fmt: skip
    lines += [
        "",
        f"The store alone (one thread, claim 4, finish each in its own transaction): "
        f"PostgreSQL {pg:.0f} lines/s, SQLite {sqlite:.0f} lines/s, against "
        f"{FILES / control:.2f} lines/s of transcription by one replica.",
    ]
    publish("\n".join(lines), args.output)
    return 0
