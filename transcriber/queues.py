"""The queued windows of every open request, and the order a lane takes them in:
shortest remaining request first, long requests rotating. Not thread-safe: the Batcher
calls it with its lock held."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P")
"""A window's payload (what the batch function decodes)."""
R = TypeVar("R")
"""A window's result."""


@dataclass(frozen=True)
class BatchKind:
    """What kind of batch a thread runs (the batch function frames and places it by this)."""

    short: bool
    """Its windows are short requests' (at most `short_windows` windows each)."""
    interactive: bool
    """It runs in the interactive lane (short requests that are not background work);
    the other lane carries long files and batch jobs."""


@dataclass
class Item(Generic[P, R]):
    """One queued window."""

    payload: P
    """What the batch function decodes."""
    future: Future[R]
    """Its result, for the request that queued it."""
    queued_at: float = field(default_factory=time.monotonic)
    """When it was queued (a partial batch waits for more at most `max_wait` from it)."""


class WindowQueues(Generic[P, R]):
    """Per-request queues of windows, by options key and lane."""

    def __init__(self, short_windows: int) -> None:
        self.short_windows = short_windows
        """Requests of at most this many windows are short."""
        self._queues: OrderedDict[int, tuple[Hashable, deque[Item[P, R]]]] = OrderedDict()
        self._background: set[int] = set()
        self._remaining: dict[int, int] = {}
        self._total: dict[int, int] = {}
        self.queued = 0
        """Windows queued, not yet taken into a batch."""

    def open(self, rid: int, key: Hashable, windows: int, background: bool) -> None:
        if background:
            self._background.add(rid)
        self._queues[rid] = (key, deque())
        self._remaining[rid] = windows
        self._total[rid] = windows

    def add(self, rid: int, items: list[Item[P, R]]) -> bool:
        """Queue a request's windows (False: the request is not open)."""
        if rid not in self._queues:
            return False
        self._queues[rid][1].extend(items)
        self.queued += len(items)
        return True

    def close(self, rid: int) -> list[Item[P, R]]:
        """Forget a request; its windows still queued."""
        entry = self._queues.pop(rid, None)
        self._background.discard(rid)
        self._remaining.pop(rid, None)
        self._total.pop(rid, None)
        if entry is None:
            return []
        self.queued -= len(entry[1])
        return list(entry[1])

    def short(self, rid: int) -> bool:
        return self._total.get(rid, 0) <= self.short_windows

    def interactive(self, rid: int) -> bool:
        """Whether the request runs in the interactive lane."""
        return self.short(rid) and rid not in self._background

    def is_background(self, rid: int) -> bool:
        return rid in self._background

    def open_in_lane(self, interactive: bool) -> int:
        """Requests open in a lane."""
        return sum(self.interactive(rid) == interactive for rid in self._queues)

    def key(self, rid: int) -> Hashable:
        return self._queues[rid][0]

    def oldest(self, rids: list[int]) -> float:
        """When the oldest window of these requests was queued."""
        return min(self._queues[rid][1][0].queued_at for rid in rids)

    def waiting(self, rids: list[int]) -> int:
        """Windows these requests have queued."""
        return sum(len(self._queues[rid][1]) for rid in rids)

    def candidates(
        self, interactive: bool, key: Hashable | None = None, short: bool | None = None,
        background: bool = True,
    ) -> list[int]:  # fmt: skip
        """Requests of the lane with queued windows (of `key`, and short or long if given;
        background ones only if `background`), shortest remaining first."""
        return sorted(
            (rid for rid, (k, q) in self._queues.items()
             if q and self.interactive(rid) == interactive
             and (key is None or k == key) and (short is None or self.short(rid) == short)
             and (background or rid not in self._background)),
            key=lambda rid: self._remaining.get(rid, 0),
        )  # fmt: skip

    def pop(self, key: Hashable, kind: BatchKind, count: int) -> list[Item[P, R]]:
        """Up to `count` queued windows of `key` of the lane (short or long requests'),
        shortest first; long requests rotate for the next turn."""
        order = self.candidates(kind.interactive, key, kind.short)
        batch: list[Item[P, R]] = []
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
        self.queued -= len(batch)
        return batch
