"""A bounded inference pool: work runs in threads, never on the event loop.

At most `workers` jobs run and `queue_size` wait; one more is refused at once
with Overloaded (503 + retry-after) instead of hanging.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from audio.errors import Overloaded

T = TypeVar("T")


class InferencePool:
    def __init__(self, workers: int, queue_size: int, retry_after: int = 1) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError("workers must be >= 1 and queue_size >= 0")
        self.capacity = workers + queue_size
        self.retry_after = retry_after
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")
        self._lock = threading.Lock()
        self._pending = 0
        self.rejected = 0
        """Jobs refused because the queue was full."""

    @property
    def pending(self) -> int:
        """Jobs running or waiting."""
        return self._pending

    def _reserve(self) -> None:
        with self._lock:
            if self._pending >= self.capacity:
                self.rejected += 1
                raise Overloaded(self.retry_after)
            self._pending += 1

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    def _submit(self, fn: Callable[[], T]) -> Future[T]:
        """Reserve a slot (Overloaded when none is free) and start `fn`; the slot is
        released when `fn` finishes, whoever is still waiting for it."""
        self._reserve()
        try:
            future = self._executor.submit(fn)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _f: self._release())
        return future

    async def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` in a worker thread; raise Overloaded when the queue is full."""
        return await asyncio.wrap_future(self._submit(fn))

    async def stream(self, produce: Callable[[], Iterator[T]], buffer: int = 4) -> AsyncIterator[T]:
        """Run a blocking generator in one worker; yield its items on the event loop.

        The slot is reserved before the first item (Overloaded comes first), the
        producer blocks when `buffer` items wait unread, and it stops at the next
        item when the consumer goes away (client disconnect).
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        room = threading.Semaphore(buffer)
        stop = threading.Event()

        def run() -> None:
            try:
                for item in produce():
                    while not room.acquire(timeout=0.1):
                        if stop.is_set():
                            return
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, ("item", item))
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except BaseException as exc:  # delivered to the consumer
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        self._submit(run)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "end":
                    return
                if kind == "error":
                    assert isinstance(value, BaseException)
                    raise value
                room.release()
                yield value  # type: ignore[misc]
        finally:
            stop.set()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
