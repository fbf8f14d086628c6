"""`speech-pipeline batch DIR|manifest.jsonl --out results.jsonl`: a folder, not a server.

Every audio file under DIR (or each line of a manifest: `{"id", "path"}` plus any
transcription fields) is transcribed, `--jobs` at a time, in this process through the
shared batcher or on a Ray cluster (`--ray`). Each result is appended to `--out` and
flushed to disk as it finishes, so a run stopped by Ctrl-C or a crash resumes where it
was: files with a result are skipped, files that failed are tried again. A file's error
is recorded in its result line and never stops the run. `--format` also writes each
transcript beside its audio (or under `--out-dir`, mirroring the folders).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from audio.batch.folder import FORMATS, Item, Progress, end_line, finished, items
from audio.settings import Settings
from audio.wiring import Services, batch_executor, batch_store

LOCAL_JOBS = 2
"""Files in flight in this process when `--jobs` is not given (on Ray: one per CPU)."""


def run(args: argparse.Namespace, settings: Settings) -> int:
    source, out = Path(args.source), Path(args.out)
    todo = items(source)
    skip = finished(out)
    pending = [item for item in todo if item.id not in skip]
    print(f"{len(todo)} files; {len(todo) - len(pending)} already done in {out}",
          file=sys.stderr)  # fmt: skip
    services = Services.build(settings)
    store = batch_store(settings)
    model = services.stt.resolve(args.model or settings.stt.default_model).served
    executor = batch_executor(services, store, args.ray, args.jobs, LOCAL_JOBS)
    unit = "actors" if args.ray else "files at a time"
    print(f"{executor.where}: {executor.workers} {unit}", file=sys.stderr)

    def one(item: Item) -> dict[str, Any]:
        return executor.files(item, model, args.format, args.out_dir, args.source)

    progress = Progress(len(pending))
    end_line(out)
    try:
        with (
            out.open("a", encoding="utf-8") as results,
            ThreadPoolExecutor(executor.workers) as threads,
        ):
            for record in _completed(threads, one, pending, executor.workers):
                results.write(json.dumps(record, ensure_ascii=False) + "\n")
                results.flush()
                os.fsync(results.fileno())
                progress.update(float(record.get("duration", 0.0)), "error" not in record)
    except KeyboardInterrupt:
        print("\nstopped; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        store.close()
        services.close()
    print(file=sys.stderr)
    return 0


def _completed(
    pool: ThreadPoolExecutor, one: Any, pending: list[Item], jobs: int
) -> Iterator[dict[str, Any]]:
    """Results as they finish, keeping `jobs` files in flight (so a stop loses little)."""
    queue = iter(pending)
    running: set[Future[dict[str, Any]]] = set()
    for item in queue:
        running.add(pool.submit(one, item))
        if len(running) >= jobs:
            break
    while running:
        done, running = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            yield future.result()
            following = next(queue, None)
            if following is not None:
                running.add(pool.submit(one, following))


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    batch = sub.add_parser("batch", help="transcribe a folder or a manifest, resumably")
    batch.add_argument("source", help="a folder of audio files, or a manifest .jsonl")
    batch.add_argument("--out", required=True, help="results JSONL (appended; resumes)")
    batch.add_argument("--format", choices=sorted(FORMATS), help="also write each transcript")
    batch.add_argument("--out-dir", help="where --format files go (default: beside the audio)")
    batch.add_argument("--model")
    jobs = f"files in flight (default {LOCAL_JOBS}; on Ray: its CPUs)"
    batch.add_argument("--jobs", type=int, help=jobs)
    batch.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster (`auto`, host:port)")
    batch.set_defaults(func=run)
