"""Dynamic batching of 30-s windows across requests (engine side, no HTTP).

`workers` inference threads (one per model replica) take windows from a bounded
set of per-request queues, group those that share decoding options into one
batch of at most `max_batch`, wait at most `max_wait` for a batch to fill, run
it, and route each result back to its request's future. Cancelling a request
drops its queued windows.

Two lanes of `workers` threads each: the interactive lane runs short requests (at
most `short_windows` windows: clips, realtime turns), the background lane long
files and batch jobs. A short request never waits behind a long file's batch;
the two lanes share the cores, and the batch function may run the background
lane on replicas of lower CPU priority, so the operating system gives the cores
to the interactive lane whenever it has work. Within a lane, scheduling is
shortest-remaining-first (ties round-robin), and a batch that carries a short
request's windows is not filled up with a long request's windows. A batch runs
in steps (one window's encoding each); between them it takes in windows of its
kind that arrived, up to its limit, so no thread idles waiting for a batch to
fill.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from typing import Generic

from transcriber.queues import BatchKind, Item, P, R, WindowQueues

log = logging.getLogger(__name__)

Between = Callable[[], None]
"""Called by a running batch after each step: may append windows that arrived to the
batch's payload list."""


RunBatch = Callable[[Hashable, list[P], Between, BatchKind], Sequence[R]]
"""Runs one batch: (options key, window payloads, between, its kind) -> one result per
payload (the payload list as it stands when the batch decodes)."""
SHORT_REQUEST_WINDOWS = 4
"""Requests of at most this many windows (or of one batch, if more) are short: they run
in the interactive lane (a file of up to about two minutes)."""


class Batcher(Generic[P, R]):
    def __init__(
        self, run_batch: RunBatch[P, R], max_batch: int = 8, max_wait: float = 0.02,
        workers: int = 1, long_max_batch: int | None = None, max_queued: int = 256,
        name: str = "batcher",
    ) -> None:  # fmt: skip
        if max_batch < 1 or workers < 1 or (long_max_batch or 1) < 1:
            raise ValueError("max_batch, long_max_batch and workers must be >= 1")
        self._run_batch = run_batch
        self.max_batch = max_batch
        """Most windows in a batch of short requests."""
        self.long_max_batch = long_max_batch or max_batch
        """Most windows in a batch of long requests (their batches run back to back)."""
        self.max_wait = max_wait
        self.workers = workers
        """Inference threads in each lane."""
        self.max_queued = max_queued
        self.short_windows = max(max_batch, SHORT_REQUEST_WINDOWS)
        self._queues: WindowQueues[P, R] = WindowQueues(self.short_windows)
        self._background_running = 0
        self.max_background = max(1, workers - 1)
        """Background-lane threads batch jobs may hold at once (one is kept for long
        interactive requests when there are two or more)."""
        self._cond = threading.Condition()
        self._idle = {True: 0, False: 0}
        self._busy = 0
        self._closed = False
        self._ids = itertools.count()
        self.windows_run = 0
        """Windows decoded so far (tests count work with it)."""
        self.batches_run = 0
        self.windows_cancelled = 0
        self._threads = [
            threading.Thread(
                target=self._loop, args=(interactive,), daemon=True,
                name=f"{name}-{'interactive' if interactive else 'background'}-{i}",
            )
            for interactive in (True, False)
            for i in range(workers)
        ]  # fmt: skip
        for thread in self._threads:
            thread.start()

    # -- request side -------------------------------------------------------
    def open(self, key: Hashable, windows: int = 1, background: bool = False) -> int:
        """Register a request of `windows` windows sharing `key` (decoding options).
        A `background` request (a batch job's) runs in the background lane whatever its
        length, on at most `max_background` of its threads. Its key must differ from
        interactive requests' keys."""
        with self._cond:
            rid = next(self._ids)
            self._queues.open(rid, key, windows, background)
            return rid

    def submit(self, rid: int, payload: P) -> Future[R]:
        """Queue one window (see submit_many)."""
        return self.submit_many(rid, [payload])[0]

    def submit_many(self, rid: int, payloads: Sequence[P]) -> list[Future[R]]:
        """Queue windows together (one wake-up); blocks while `max_queued` are waiting."""
        items: list[Item[P, R]] = [Item(payload, Future()) for payload in payloads]
        with self._cond:
            queued = self._queues.queued
            while queued and queued + len(items) > self.max_queued and not self._closed:
                self._cond.wait()
                queued = self._queues.queued
            if self._closed or not self._queues.add(rid, items):
                for item in items:
                    item.future.cancel()
                return [item.future for item in items]
            self._cond.notify_all()
        return [item.future for item in items]

    def close_request(self, rid: int) -> None:
        """Forget a request; its windows still queued are cancelled, not run."""
        with self._cond:
            for item in self._queues.close(rid):
                item.future.cancel()
                self.windows_cancelled += 1
            self._cond.notify_all()

    def pending(self) -> int:
        """Windows queued, not yet taken into a batch."""
        with self._cond:
            return self._queues.queued

    def alone(self, kind: BatchKind) -> bool:
        """Called from a running batch: its request is the only one open in its lane, so
        the batch may use every core (the other lane's work, if any, yields to it or
        shares with it, as the batch function arranges)."""
        with self._cond:
            return self._queues.open_in_lane(kind.interactive) <= 1

    def running(self) -> int:
        """Batches being decoded now."""
        with self._cond:
            return self._busy

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)

    # -- the inference threads ----------------------------------------------
    def _limit(self, short: bool) -> int:
        return self.max_batch if short else self.long_max_batch

    def _take(self, interactive: bool) -> tuple[Hashable, list[Item[P, R]], BatchKind, bool] | None:
        """The lane's next batch (key, windows, kind, whether it is a batch job's): all of
        one options key, shortest request first; short requests' windows are not mixed
        with long ones."""
        with self._cond:
            self._idle[interactive] += 1
            try:
                return self._take_locked(interactive)
            finally:
                self._idle[interactive] -= 1

    def _take_locked(
        self, interactive: bool
    ) -> tuple[Hashable, list[Item[P, R]], BatchKind, bool] | None:
        while not self._closed:
            queues = self._queues
            background = interactive or self._background_running < self.max_background
            ready = queues.candidates(interactive, background=background)
            if not ready:
                self._cond.wait()
                continue
            key, short = queues.key(ready[0]), queues.short(ready[0])
            same = queues.candidates(interactive, key, short)
            oldest, available = queues.oldest(same), queues.waiting(same)
            wait = oldest + self.max_wait - time.monotonic()
            if available < self._limit(short) and wait > 0:
                self._cond.wait(timeout=wait)
                continue
            # idle threads share what is queued (a 3-window request runs on 2 threads)
            share = -(-available // max(1, self._idle[interactive]))
            kind = BatchKind(short, interactive)
            batch = queues.pop(key, kind, min(self._limit(short), share))
            self._cond.notify_all()
            is_background = queues.is_background(ready[0])
            self._background_running += is_background
            return key, batch, kind, is_background
        return None

    def _run(self, key: Hashable, batch: list[Item[P, R]], kind: BatchKind) -> None:
        """Run a batch; between its steps it takes in windows of its kind that arrived
        meanwhile, up to its limit (work-conserving: nothing waits for a batch to fill)."""
        live = [item for item in batch if item.future.set_running_or_notify_cancel()]
        if not live:
            return
        payloads = [item.payload for item in live]

        def between() -> None:
            with self._cond:
                more = self._queues.pop(key, kind, self._limit(kind.short) - len(live))
                self._cond.notify_all()
            for item in more:
                if item.future.set_running_or_notify_cancel():
                    live.append(item)
                    payloads.append(item.payload)

        try:
            results = self._run_batch(key, payloads, between, kind)
        except Exception as exc:
            log.exception("batch failed")
            for item in live:
                item.future.set_exception(exc)
            return
        with self._cond:
            self.windows_run += len(live)
            self.batches_run += 1
        for item, result in zip(live, results, strict=True):
            item.future.set_result(result)

    def _loop(self, interactive: bool) -> None:
        while (taken := self._take(interactive)) is not None:
            key, batch, kind, background = taken
            with self._cond:
                self._busy += 1
            try:
                self._run(key, batch, kind)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._background_running -= background
                    self._cond.notify_all()
