"""Runs batches: leased lines to the handler, one transaction per result, then the
output and error files. Every replica runs one; they share the store's batches line by
line (leases), and a restart or another replica resumes whatever is unfinished."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

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


def default_replica() -> str:
    """This process's name among replicas: host and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class BatchRunner:
    """One thread that walks the active batches, oldest first, `workers` lines at a time."""

    def __init__(
        self, store: JobStore, handler: LineHandler, workers: int = 1, poll_seconds: float = 0.5,
        replica: str | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.replica = replica or default_replica()
        """The name this runner's leases and finished lines carry."""
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
        """Advance the oldest active batch this replica can work on by one step; False
        when there is nothing to do here (other replicas may hold the rest)."""
        for batch in self.store.active():
            if batch.status == "cancelling":
                worked = self._finish(batch, "cancelled")
            elif batch.status in ("validating", "in_progress") and time.time() > batch.expires_at:
                worked = self._finish(batch, "expired")
            elif batch.status == "validating":
                self.store.set_status(batch.id, "in_progress", only_from=("validating",))
                worked = True
            elif batch.status == "finalizing":
                worked = self._finish(batch, "completed")
            else:
                lines = self.store.claim(batch.id, self.replica, self.workers)
                if lines:
                    self._run(batch, lines)
                    worked = True
                elif self.store.unfinished(batch.id) == 0:
                    self.store.set_status(batch.id, "finalizing", only_from=("in_progress",))
                    worked = True
                else:
                    worked = False  # its lines are leased to other replicas
            if worked:
                return True
        return False

    def _run(self, batch: Batch, lines: list[Line]) -> None:
        """Run claimed lines, renewing their leases while they run."""
        futures = {self._pool.submit(self._one, batch, line): line for line in lines}
        running = set(futures)
        renew_every = self.store.lease_seconds / 3
        while running:
            done, running = wait(running, timeout=renew_every, return_when=FIRST_COMPLETED)
            for future in done:
                line = futures[future]
                if self.store.finish_line(batch.id, line, future.result(), self.replica):
                    log.info("batch %s line %s done by replica %s", batch.id, line.custom_id,
                             self.replica)  # fmt: skip
            if running:
                self.store.renew(batch.id, self.replica, [futures[f].index for f in running])

    def _one(self, batch: Batch, line: Line) -> Outcome:
        try:
            return self.handler.handle(batch.endpoint, line, batch.project)
        except Exception:
            log.exception("batch %s (project %s): line %s failed", batch.id, batch.project,
                          line.custom_id)  # fmt: skip
            return Outcome(500, error_body("Internal server error.", "server_error"), "")

    def _finish(self, batch: Batch, status: BatchStatus) -> bool:
        """Write what finished to the output and error files and end the batch, once
        across replicas (False: another replica is finalising it)."""
        if not self.store.claim_finalize(batch.id, self.replica):
            return False
        records = {ok: [json.dumps(r, ensure_ascii=False) for r in self.store.results(batch.id, ok)]
                   for ok in (True, False)}  # fmt: skip
        return self.store.finalize(batch, status, self.replica, records)
