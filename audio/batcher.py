"""Dynamic batching of 30-s windows across requests (engine side, no HTTP).

One inference thread per model takes windows from a bounded set of per-request
queues, groups those that share decoding options into one batch of at most
`max_batch`, waits at most `max_wait` for a batch to fill, runs it, and routes
each result back to its request's future. Cancelling a request drops its
queued windows.

Scheduling is shortest-remaining-first: requests with the fewest windows left
go first, and a batch that carries a short request's windows (one batch or
less in all) is not filled up with a long request's windows, so a 5-s clip is
never stuck behind, or slowed down by, an hour-long file. Long requests share
what is left round-robin.
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
from typing import Any

log = logging.getLogger(__name__)

RunBatch = Callable[[Hashable, Sequence[Any]], Sequence[Any]]
"""Runs one batch: (options key, window payloads) -> one result per payload."""


@dataclass
class _Item:
    payload: Any
    future: Future[Any]
    queued_at: float = field(default_factory=time.monotonic)


class Batcher:
    def __init__(
        self, run_batch: RunBatch, max_batch: int = 8, max_wait: float = 0.02,
        max_queued: int = 256, name: str = "batcher",
    ) -> None:  # fmt: skip
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.max_queued = max_queued
        self._queues: OrderedDict[int, tuple[Hashable, deque[_Item]]] = OrderedDict()
        self._remaining: dict[int, int] = {}
        self._total: dict[int, int] = {}
        self._cond = threading.Condition()
        self._queued = 0
        self._closed = False
        self._ids = itertools.count()
        self.windows_run = 0
        """Windows decoded so far (tests count work with it)."""
        self.batches_run = 0
        self.windows_cancelled = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- request side -------------------------------------------------------
    def open(self, key: Hashable, windows: int = 1) -> int:
        """Register a request of `windows` windows sharing `key` (decoding options)."""
        with self._cond:
            rid = next(self._ids)
            self._queues[rid] = (key, deque())
            self._remaining[rid] = windows
            self._total[rid] = windows
            return rid

    def submit(self, rid: int, payload: Any) -> Future[Any]:
        """Queue one window (see submit_many)."""
        return self.submit_many(rid, [payload])[0]

    def submit_many(self, rid: int, payloads: Sequence[Any]) -> list[Future[Any]]:
        """Queue windows together (one wake-up); blocks while `max_queued` are waiting."""
        items = [_Item(payload, Future()) for payload in payloads]
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
        with self._cond:
            return self._queued

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout=30)

    # -- the inference thread -----------------------------------------------
    def _take(self) -> tuple[Hashable, list[_Item]] | None:
        """Round-robin: one window per request per turn, all of one options key."""
        with self._cond:
            while not self._closed:
                ready = [(rid, q) for rid, q in self._queues.items() if q[1]]
                if not ready:
                    self._cond.wait()
                    continue
                ready.sort(key=lambda entry: self._remaining.get(entry[0], 0))
                key = ready[0][1][0]
                oldest = min(q[1][0].queued_at for _rid, q in ready if q[0] == key)
                available = sum(len(q[1]) for _rid, q in ready if q[0] == key)
                wait = oldest + self.max_wait - time.monotonic()
                if available < self.max_batch and wait > 0:
                    self._cond.wait(timeout=wait)
                    continue
                batch = self._fill(key)
                self._queued -= len(batch)
                self._cond.notify_all()
                return key, batch
            return None

    def _fill(self, key: Hashable) -> list[_Item]:
        """Shortest-remaining-first; short requests' windows are not mixed with long ones."""
        order = sorted(
            (rid for rid, (k, q) in self._queues.items() if k == key and q),
            key=lambda rid: self._remaining.get(rid, 0),
        )
        short = [rid for rid in order if self._total.get(rid, 0) <= self.max_batch]
        batch: list[_Item] = []
        for rid in short or order:
            queue = self._queues[rid][1]
            while queue and len(batch) < self.max_batch:
                batch.append(queue.popleft())
                self._remaining[rid] = self._remaining.get(rid, 1) - 1
            if len(batch) >= self.max_batch:
                break
        if not short:
            for rid in order:  # long requests rotate for the next turn
                self._queues.move_to_end(rid)
        return batch

    def _loop(self) -> None:
        while (taken := self._take()) is not None:
            key, batch = taken
            live = [item for item in batch if item.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self._run_batch(key, [item.payload for item in live])
            except Exception as exc:
                log.exception("batch failed")
                for item in live:
                    item.future.set_exception(exc)
                continue
            self.windows_run += len(live)
            self.batches_run += 1
            for item, result in zip(live, results, strict=True):
                item.future.set_result(result)
