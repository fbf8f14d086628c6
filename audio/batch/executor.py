"""Where batch work runs: in this process, or on a Ray cluster. The one choice, made the
same way for the server's runner (batch lines) and the `batch` command (files)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audio.batch.folder import Item, transcribe_item
from audio.batch.lines import BatchLines
from audio.batch.ray import ActorPool, RayLines, StackBuilder, connect
from audio.services.diarize import DiarizeService
from audio.services.stt import SttService
from audio.settings import Settings
from jobs.store import JobStore
from jobs.types import LineHandler

FileRunner = Callable[[Item, str, "str | None", "str | None", str], dict[str, Any]]
"""(item, served model, --format suffix, --out-dir, source) -> the item's result record."""


@dataclass(frozen=True)
class Executor:
    """Where batch work runs, and how much of it at once."""

    lines: LineHandler
    """Runs one batch line (the server's runner)."""
    files: FileRunner
    """Transcribes one file of a folder or manifest (the `batch` command)."""
    workers: int
    """Lines or files in flight: one per actor on Ray."""
    where: str
    """`in this process` or `on the Ray cluster at ADDRESS`, for people."""


def choose(
    settings: Settings, stt: SttService, diarize: DiarizeService, store: JobStore,
    build: StackBuilder, address: str | None, workers: int | None, local_workers: int,
) -> Executor:  # fmt: skip
    """On the Ray cluster at `address` (one actor per CPU it offers unless `workers` says
    otherwise), else here (`workers`, or `local_workers` when not given)."""
    if address:
        cpus = connect(address)
        size = workers or cpus
        pool = ActorPool(settings, size, build)

        def on_cluster(item: Item, model: str, suffix: str | None, out_dir: str | None,
                       source: str) -> dict[str, Any]:  # fmt: skip
            record: dict[str, Any] = pool.call("transcribe", item, model, suffix, out_dir, source)
            return record

        return Executor(RayLines(pool), on_cluster, size, f"on the Ray cluster at {address}")

    def here(item: Item, model: str, suffix: str | None, out_dir: str | None,
             source: str) -> dict[str, Any]:  # fmt: skip
        return transcribe_item(stt, settings, item, model, suffix, out_dir, source)

    return Executor(
        BatchLines(settings, stt, store, diarize), here, workers or local_workers, "in this process"
    )
