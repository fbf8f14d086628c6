"""Batches and folders on a Ray cluster: a pool of actors, each holding one model.

Why actors pulling work rather than Ray Data `map_batches`: the unit of work is a whole
file whose cost varies a hundredfold (a 5-s clip, a 2-hour lecture), results must be
written one at a time into the durable store (a crash loses no finished file), and the
server's runner already walks the store's pending lines in order. So each actor loads the
model once (the same `Services` as the server, sized to the one CPU it holds) and
takes the next file as soon as it is free; the caller keeps one file in flight per
actor. Adding nodes adds actors, and throughput grows with them until the store (one
SQLite writer, a few writes per file) or the shared file system is the limit.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any, Protocol

from audio.batch.folder import Item, transcribe_item
from audio.batch.lines import BatchLines
from audio.services.diarize import DiarizeService
from audio.services.stt import SttService
from audio.settings import Settings
from jobs.store import JobStore
from jobs.types import Line, Outcome


def connect(address: str) -> int:
    """Join the cluster at `address` (`auto`, `host:port`, `ray://host:10001`); the
    number of CPUs it offers."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
    return int(resources.get("CPU", 1))


class WorkerStack(Protocol):
    """What an actor builds once: the service's STT stack and the job store."""

    @property
    def settings(self) -> Settings: ...

    @property
    def stt(self) -> SttService: ...

    @property
    def diarize(self) -> DiarizeService: ...

    @property
    def store(self) -> JobStore: ...


StackBuilder = Callable[[Settings], WorkerStack]
"""Builds an actor's stack from the caller's settings (the wiring's, passed in by
reference, so this module never imports the wiring that imports it)."""


class _Worker:
    """One actor: the service's STT stack, built once, running lines or files."""

    def __init__(self, settings_json: str, build: StackBuilder) -> None:
        self.stack = build(Settings.model_validate_json(settings_json))
        stack = self.stack
        self.lines = BatchLines(stack.settings, stack.stt, stack.store, stack.diarize)

    def handle(self, endpoint: str, line: Line, project: str) -> Outcome:
        return self.lines.handle(endpoint, line, project)

    def transcribe(self, item: Item, model: str, suffix: str | None, out_dir: str | None,
                   source: str) -> dict[str, Any]:  # fmt: skip
        return transcribe_item(self.stack.stt, self.stack.settings, item, model, suffix,
                               out_dir, source)  # fmt: skip


class ActorPool:
    """`size` actors; a caller borrows an idle one per call (blocking while all work)."""

    def __init__(self, settings: Settings, size: int, build: StackBuilder) -> None:
        import ray

        remote = ray.remote(num_cpus=1)(_Worker)
        self._idle: queue.Queue[Any] = queue.Queue()
        self.size = size
        for _ in range(size):
            self._idle.put(remote.remote(settings.model_dump_json(), build))

    def call(self, method: str, *args: Any) -> Any:
        import ray

        actor = self._idle.get()
        try:
            return ray.get(getattr(actor, method).remote(*args))
        finally:
            self._idle.put(actor)


class RayLines:
    """A `LineHandler` that runs each line on the cluster."""

    def __init__(self, pool: ActorPool) -> None:
        self._pool = pool

    def handle(self, endpoint: str, line: Line, project: str) -> Outcome:
        outcome: Outcome = self._pool.call("handle", endpoint, line, project)
        return outcome
