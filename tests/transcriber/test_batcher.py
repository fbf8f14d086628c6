"""The batcher's scheduling, with a stand-in model (no inference)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from transcriber.batcher import Batcher, Between
from transcriber.queues import BatchKind

from ..helpers import wait_until

KEY = "options"


class Recorder:
    """A run_batch that records batches and runs a hook at each step."""

    def __init__(self, step_seconds: float = 0.0) -> None:
        self.step_seconds = step_seconds
        self.batches: list[list[Any]] = []
        self.running = 0
        self.most_running = 0
        self.lock = threading.Lock()
        self.on_step: Callable[[list[Any]], None] | None = None
        self.kinds: dict[Any, BatchKind] = {}
        """The kind of batch each payload ran in."""

    def __call__(
        self, key: Hashable, payloads: list[Any], between: Between, kind: BatchKind
    ) -> list[Any]:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            self.kinds.update((payload, kind) for payload in payloads)
        done = 0
        while done < len(payloads):  # one step per window, as the engine encodes
            time.sleep(self.step_seconds)
            done += 1
            if self.on_step is not None:
                self.on_step(payloads)
            between()
        with self.lock:
            self.running -= 1
            self.batches.append(list(payloads))
        return [f"done {p}" for p in payloads]


def test_workers_decode_in_parallel() -> None:
    recorder = Recorder(step_seconds=0.2)
    batcher = Batcher(recorder, max_batch=1, max_wait=0, workers=2)
    try:
        rids = [batcher.open(KEY, 1) for _ in range(4)]
        futures = [batcher.submit(rid, f"clip{i}") for i, rid in enumerate(rids)]
        started = time.monotonic()
        assert [f.result(timeout=5) for f in futures] == [f"done clip{i}" for i in range(4)]
        assert recorder.most_running == 2
        assert time.monotonic() - started < 0.75  # 4 steps of 0.2 s on 2 threads
    finally:
        batcher.shutdown()


def test_a_short_request_is_answered_while_a_long_batch_is_still_running() -> None:
    """Short requests have a lane of their own: a clip never waits for a long file."""
    gate = threading.Event()
    recorder = Recorder()
    recorder.on_step = lambda payloads: gate.wait(5) if payloads[0] == "w0" else None
    batcher = Batcher(recorder, max_batch=1, long_max_batch=4, max_wait=0, workers=1)
    try:
        long_rid = batcher.open(KEY, 20)
        long_futures = batcher.submit_many(long_rid, [f"w{i}" for i in range(4)])
        wait_until(lambda: batcher.running() == 1)  # the long batch is held at its step
        clip = batcher.submit(batcher.open(KEY, 1), "clip")
        assert clip.result(timeout=5) == "done clip"
        assert not any(f.done() for f in long_futures)
        gate.set()
        assert [f.result(timeout=5) for f in long_futures] == [f"done w{i}" for i in range(4)]
        assert recorder.kinds["clip"] == BatchKind(short=True, interactive=True)
        assert recorder.kinds["w0"] == BatchKind(short=False, interactive=False)
    finally:
        gate.set()
        batcher.shutdown()


def test_running_batch_takes_in_windows_that_arrive() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=3, max_wait=0, workers=1)
    try:
        late: list[Any] = []

        def arrive(payloads: list[Any]) -> None:
            if len(payloads) == 1 and not late:
                late.extend(batcher.submit(batcher.open(KEY, 1), f"late{i}") for i in range(3))

        recorder.on_step = arrive
        first = batcher.submit(batcher.open(KEY, 1), "first")
        assert first.result(timeout=5) == "done first"
        assert [f.result(timeout=5) for f in late] == ["done late0", "done late1", "done late2"]
        assert recorder.batches == [["first", "late0", "late1"], ["late2"]]  # at most max_batch
    finally:
        batcher.shutdown()


def test_long_requests_are_held_to_their_batch_limit_shortest_remaining_first() -> None:
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=4, long_max_batch=2, max_wait=0.05, workers=1)
    try:
        a, b = batcher.open(KEY, 9), batcher.open(KEY, 6)
        futures = batcher.submit_many(a, [f"a{i}" for i in range(9)])
        futures += batcher.submit_many(b, [f"b{i}" for i in range(6)])
        for future in futures:
            future.result(timeout=5)
        assert all(len(batch) <= 2 for batch in recorder.batches)
        order = "".join(payload[0] for batch in recorder.batches for payload in batch)
        # b (fewer windows left) goes first, once a's first batch (if it began) is done
        assert order in ("b" * 6 + "a" * 9, "aa" + "b" * 6 + "a" * 7)
    finally:
        batcher.shutdown()


def test_closing_a_request_cancels_its_queued_windows() -> None:
    gate = threading.Event()
    recorder = Recorder()
    recorder.on_step = lambda _p: gate.wait(5)
    batcher = Batcher(recorder, max_batch=1, max_wait=0, workers=1)
    try:
        rid = batcher.open(KEY, 5)
        futures = batcher.submit_many(rid, [f"w{i}" for i in range(5)])
        wait_until(lambda: batcher.running() == 1)  # w0 is running, held at its step
        batcher.close_request(rid)
        gate.set()
        assert futures[0].result(timeout=5) == "done w0"
        assert all(f.cancelled() for f in futures[1:])
        assert batcher.windows_cancelled == 4
        assert batcher.windows_run == 1
        assert batcher.pending() == 0
    finally:
        batcher.shutdown()


def test_a_batch_knows_when_it_is_alone_in_its_lane() -> None:
    """A request alone in its lane may use every core: a clip while a long file runs is
    (the long file's lane yields to it); two clips at once are not."""
    seen: dict[str, bool] = {}
    gates = {"long": threading.Event(), "first": threading.Event()}
    recorder = Recorder()
    batcher: Batcher[str, str] = Batcher(recorder, max_batch=1, max_wait=0, workers=2)

    def on_step(payloads: list[Any]) -> None:
        name = payloads[-1]
        seen[name] = batcher.alone(recorder.kinds[name])
        if name in gates:
            gates[name].wait(5)

    recorder.on_step = on_step
    try:
        long_rid = batcher.open(KEY, 10)
        long_window = batcher.submit(long_rid, "long")
        wait_until(lambda: "long" in seen)  # the long file runs alone in its lane
        first = batcher.submit(batcher.open(KEY, 1), "first")
        wait_until(lambda: "first" in seen)  # a clip alone in the interactive lane
        second = batcher.submit(batcher.open(KEY, 1), "second")
        wait_until(lambda: "second" in seen)
        for gate in gates.values():
            gate.set()
        assert first.result(timeout=5) and second.result(timeout=5) and long_window.result(5)
        assert seen == {"long": True, "first": True, "second": False}
    finally:
        for gate in gates.values():
            gate.set()
        batcher.shutdown()


def test_batch_jobs_leave_a_thread_for_long_interactive_requests() -> None:
    recorder = Recorder(step_seconds=0.05)
    batcher: Batcher[Any, Any] = Batcher(recorder, max_batch=1, workers=2, long_max_batch=1)
    try:
        archive = batcher.open("batch-options", 12, background=True)
        futures = batcher.submit_many(archive, list(range(12)))
        wait_until(lambda: recorder.running >= 1)
        time.sleep(0.2)
        assert recorder.most_running == 1  # two threads in its lane, but it holds only one
        upload = batcher.open(KEY, 5)  # a long interactive request: the same lane
        assert batcher.submit_many(upload, [f"u{i}" for i in range(5)])[-1].result(timeout=5)
        # the free thread took it while most of the archive was still to come
        assert sum(f.done() for f in futures) < 10
        assert recorder.kinds["u0"] == BatchKind(short=False, interactive=False)
        # a batch job's short file runs in the background lane too
        clip_job = batcher.open("batch-options", 1, background=True)
        assert batcher.submit(clip_job, "job-clip").result(timeout=10)
        assert recorder.kinds["job-clip"] == BatchKind(short=True, interactive=False)
        assert all(f.result(timeout=10) is not None for f in futures)
    finally:
        batcher.shutdown()
