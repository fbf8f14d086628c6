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
from typing import Any

from audio.settings import Settings
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


class _Worker:
    """One actor: the service's STT stack, built once, running lines or files."""

    def __init__(self, settings_json: str) -> None:
        from audio.batch_service import BatchLines
        from audio.services import Services, batch_store

        settings = Settings.model_validate_json(settings_json)
        # An actor holds one of the cluster's CPUs and runs batch work only: one decoder
        # of one thread, no all-core replica (actors on one node would each take every
        # core for their encoder), nothing of its own to yield the cores to.
        stt = settings.stt.model_copy(
            update={"decoders": 1, "solo_threads": 1, "background_nice": 0}
        )
        self.settings = settings.model_copy(update={"stt": stt})
        self.services = Services.build(self.settings)
        self.lines = BatchLines(
            self.settings, self.services.stt, batch_store(self.settings), self.services.diarize
        )

    def handle(self, endpoint: str, line: Line, project: str) -> Outcome:
        return self.lines.handle(endpoint, line, project)

    def transcribe(self, item: Any, model: str, response_format: str, out_dir: str | None,
                   source: str) -> dict[str, Any]:  # fmt: skip
        from audio.batch_cli import transcribe_item

        return transcribe_item(self.services.stt, self.settings, item, model, response_format,
                               out_dir, source)  # fmt: skip


class ActorPool:
    """`size` actors; a caller borrows an idle one per call (blocking while all work)."""

    def __init__(self, settings: Settings, size: int) -> None:
        import ray

        remote = ray.remote(num_cpus=1)(_Worker)
        self._idle: queue.Queue[Any] = queue.Queue()
        self.size = size
        for _ in range(size):
            self._idle.put(remote.remote(settings.model_dump_json()))

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
