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
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

P = TypeVar("P")
"""A window's payload (what the batch function decodes)."""
R = TypeVar("R")
"""A window's result."""

Between = Callable[[], None]
"""Called by a running batch after each step: may append windows that arrived to the
batch's payload list."""


@dataclass(frozen=True)
class BatchKind:
    """What kind of batch a thread runs (the batch function frames and places it by this)."""

    short: bool
    """Its windows are short requests' (at most `short_windows` windows each)."""
    interactive: bool
    """It runs in the interactive lane (short requests that are not background work);
    the other lane carries long files and batch jobs."""


RunBatch = Callable[[Hashable, list[P], Between, BatchKind], Sequence[R]]
"""Runs one batch: (options key, window payloads, between, its kind) -> one result per
payload (the payload list as it stands when the batch decodes)."""
SHORT_REQUEST_WINDOWS = 4
"""Requests of at most this many windows (or of one batch, if more) are short: they run
in the interactive lane (a file of up to about two minutes)."""


@dataclass
class _Item(Generic[P, R]):
    payload: P
    future: Future[R]
    queued_at: float = field(default_factory=time.monotonic)


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
        self._queues: OrderedDict[int, tuple[Hashable, deque[_Item[P, R]]]] = OrderedDict()
        self._background: set[int] = set()
        self._background_running = 0
        self.max_background = max(1, workers - 1)
        """Background-lane threads batch jobs may hold at once (one is kept for long
        interactive requests when there are two or more)."""
        self._remaining: dict[int, int] = {}
        self._total: dict[int, int] = {}
        self._cond = threading.Condition()
        self._queued = 0
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
            if background:
                self._background.add(rid)
            self._queues[rid] = (key, deque())
            self._remaining[rid] = windows
            self._total[rid] = windows
            return rid

    def submit(self, rid: int, payload: P) -> Future[R]:
        """Queue one window (see submit_many)."""
        return self.submit_many(rid, [payload])[0]

    def submit_many(self, rid: int, payloads: Sequence[P]) -> list[Future[R]]:
        """Queue windows together (one wake-up); blocks while `max_queued` are waiting."""
        items: list[_Item[P, R]] = [_Item(payload, Future()) for payload in payloads]
        with self._cond:
            while self._queued + len(items) > self.max_queued and self._queued and not self._closed:
                self._cond.wait()
            if self._closed or rid not in self._queues:
                for item in items:
                    item.future.cancel()
                return [item.future for item in items]
            self._queues[rid][1].extend(items)
            self._queued += len(items)
            self._cond.notify_all()
        return [item.future for item in items]

    def close_request(self, rid: int) -> None:
        """Forget a request; its windows still queued are cancelled, not run."""
        with self._cond:
            entry = self._queues.pop(rid, None)
            self._background.discard(rid)
            self._remaining.pop(rid, None)
            self._total.pop(rid, None)
            if entry is None:
                return
            for item in entry[1]:
                item.future.cancel()
                self.windows_cancelled += 1
            self._queued -= len(entry[1])
            self._cond.notify_all()

    def pending(self) -> int:
        """Windows queued, not yet taken into a batch."""
        with self._cond:
            return self._queued

    def alone(self, kind: BatchKind) -> bool:
        """Called from a running batch: its request is the only one open in its lane, so
        the batch may use every core (the other lane's work, if any, yields to it or
        shares with it, as the batch function arranges)."""
        with self._cond:
            return sum(self._interactive(rid) == kind.interactive for rid in self._queues) <= 1

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
    def _short(self, rid: int) -> bool:
        return self._total.get(rid, 0) <= self.short_windows

    def _interactive(self, rid: int) -> bool:
        """Whether the request runs in the interactive lane."""
        return self._short(rid) and rid not in self._background

    def _limit(self, short: bool) -> int:
        return self.max_batch if short else self.long_max_batch

    def _candidates(
        self, interactive: bool, key: Hashable | None = None, short: bool | None = None,
        background: bool = True,
    ) -> list[int]:  # fmt: skip
        """Requests of the lane with queued windows (of `key`, and short or long if given;
        background ones only if `background`), shortest remaining first."""
        return sorted(
            (rid for rid, (k, q) in self._queues.items()
             if q and self._interactive(rid) == interactive
             and (key is None or k == key) and (short is None or self._short(rid) == short)
             and (background or rid not in self._background)),
            key=lambda rid: self._remaining.get(rid, 0),
        )  # fmt: skip

    def _take(
        self, interactive: bool
    ) -> tuple[Hashable, list[_Item[P, R]], BatchKind, bool] | None:
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
    ) -> tuple[Hashable, list[_Item[P, R]], BatchKind, bool] | None:
        while not self._closed:
            background = interactive or self._background_running < self.max_background
            ready = self._candidates(interactive, background=background)
            if not ready:
                self._cond.wait()
                continue
            key = self._queues[ready[0]][0]
            short = self._short(ready[0])
            same = self._candidates(interactive, key, short)
            oldest = min(self._queues[rid][1][0].queued_at for rid in same)
            available = sum(len(self._queues[rid][1]) for rid in same)
            wait = oldest + self.max_wait - time.monotonic()
            if available < self._limit(short) and wait > 0:
                self._cond.wait(timeout=wait)
                continue
            # idle threads share what is queued (a 3-window request runs on 2 threads)
            share = -(-available // max(1, self._idle[interactive]))
            kind = BatchKind(short, interactive)
            batch = self._pop(key, kind, min(self._limit(short), share))
            is_background = ready[0] in self._background
            self._background_running += is_background
            return key, batch, kind, is_background
        return None

    def _pop(self, key: Hashable, kind: BatchKind, count: int) -> list[_Item[P, R]]:
        """Up to `count` queued windows of `key` of the lane (short or long requests'),
        shortest first; long requests rotate for the next turn. Call with the lock held."""
        order = self._candidates(kind.interactive, key, kind.short)
        batch: list[_Item[P, R]] = []
        for rid in order:
            queue = self._queues[rid][1]
            while queue and len(batch) < count:
                batch.append(queue.popleft())
                self._remaining[rid] = self._remaining.get(rid, 1) - 1
            if len(batch) >= count:
                break
        if not kind.short:
            for rid in order:
                self._queues.move_to_end(rid)
        self._queued -= len(batch)
        self._cond.notify_all()
        return batch

    def _run(self, key: Hashable, batch: list[_Item[P, R]], kind: BatchKind) -> None:
        """Run a batch; between its steps it takes in windows of its kind that arrived
        meanwhile, up to its limit (work-conserving: nothing waits for a batch to fill)."""
        live = [item for item in batch if item.future.set_running_or_notify_cancel()]
        if not live:
            return
        payloads = [item.payload for item in live]

        def between() -> None:
            with self._cond:
                more = self._pop(key, kind, self._limit(kind.short) - len(live))
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
