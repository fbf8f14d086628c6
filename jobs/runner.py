"""Runs batches: pending lines to the handler, one transaction per result, then the
output and error files. A restart resumes every batch the store says is unfinished."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from common.errors import error_body
from jobs.store import JobStore
from jobs.types import Batch, BatchStatus, Line, LineHandler, Outcome

log = logging.getLogger(__name__)


BACKGROUND_NICE = 10
"""How much lower than the server's threads a batch line's own work (decoding the file,
its VAD, its features) runs, so interactive requests get the cores first."""


def _lower_priority() -> None:
    """Lower this thread's scheduling priority (Linux threads have their own nice value)."""
    # elsewhere than Linux the batcher's ordering alone keeps batches behind
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


class BatchRunner:
    """One thread that walks the active batches, oldest first, `workers` lines at a time."""

    def __init__(
        self, store: JobStore, handler: LineHandler, workers: int = 1, poll_seconds: float = 0.5
    ) -> None:
        self.store = store
        self.handler = handler
        self.workers = workers
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(
            workers, thread_name_prefix="batch-line", initializer=_lower_priority
        )
        self._thread = threading.Thread(target=self._loop, name="batch-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Look again now (a batch was created or cancelled)."""
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the lines in flight (their results are kept)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.step()
            except Exception:
                log.exception("batch runner: a step failed; retrying")
                worked = False
            if not worked:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def step(self) -> bool:
        """Advance the oldest active batch by one step; False when there is nothing to do."""
        for batch in self.store.active():
            if batch.status == "cancelling":
                self._finish(batch, "cancelled")
            elif batch.status in ("validating", "in_progress") and time.time() > batch.expires_at:
                self._finish(batch, "expired")
            elif batch.status == "validating":
                self.store.set_status(batch.id, "in_progress")
            elif batch.status == "finalizing":
                self._finish(batch, "completed")
            else:
                lines = self.store.pending(batch.id, self.workers)
                if not lines:
                    self.store.set_status(batch.id, "finalizing")
                else:
                    self._run(batch, lines)
            return True
        return False

    def _run(self, batch: Batch, lines: list[Line]) -> None:
        futures = [self._pool.submit(self._one, batch, line) for line in lines]
        for line, future in zip(lines, futures, strict=True):
            self.store.finish_line(batch.id, line, future.result())

    def _one(self, batch: Batch, line: Line) -> Outcome:
        try:
            return self.handler.handle(batch.endpoint, line, batch.project)
        except Exception:
            log.exception("batch %s (project %s): line %s failed", batch.id, batch.project,
                          line.custom_id)  # fmt: skip
            return Outcome(500, error_body("Internal server error.", "server_error"), "")

    def _finish(self, batch: Batch, status: BatchStatus) -> None:
        """Write what finished to the output and error files, then end the batch."""
        ids: dict[str, str | None] = {"output_file_id": None, "error_file_id": None}
        for ok, column in ((True, "output_file_id"), (False, "error_file_id")):
            records = [json.dumps(r, ensure_ascii=False) for r in self.store.results(batch.id, ok)]
            if records:
                kind = "output" if ok else "error"
                stored = self.store.add_lines_file(
                    batch.project, "batch_output", f"{batch.id}_{kind}.jsonl", records
                )
                ids[column] = stored.id
        self.store.set_status(batch.id, status, **ids)
