"""One generic "load once, reuse, unload when idle" cache for every kind of model.

Whisper models (`transcriber.registry`), TTS engines and their shared libraries
(`voices.registry`) are all held here. Thread-safe: ten threads asking at once
for a cold key load it once (a lock per key, so one slow load never blocks
another key's hits); a key idle longer than `idle_seconds` is dropped by
`unload_idle`, and the next `get` loads it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

M = TypeVar("M")

log = logging.getLogger(__name__)


class ModelCache(Generic[M]):
    """Loaded objects by key, each loaded at most once at a time."""

    def __init__(self, name: str, idle_seconds: float = 0.0) -> None:
        self.name = name
        """What the cache holds, for the log (`stt model`, `tts engine`)."""
        self.idle_seconds = idle_seconds
        """Unload a key unused this long; 0 keeps everything until `close`."""
        self._lock = threading.Lock()
        self._gates: dict[str, threading.Lock] = {}
        self._items: dict[str, M] = {}
        self._last_used: dict[str, float] = {}
        self.load_counts: dict[str, int] = {}
        """How often each key was loaded (tests and /metrics)."""
        self.unload_counts: dict[str, int] = {}
        """How often each key was unloaded for idleness."""

    def get(self, key: str, load: Callable[[], M]) -> M:
        """The object for `key`, calling `load()` only if it is not loaded (blocking)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._last_used[key] = time.monotonic()
                return item
            gate = self._gates.setdefault(key, threading.Lock())
        with gate:
            with self._lock:  # loaded by the thread that held the gate before us?
                item = self._items.get(key)
            if item is None:
                started = time.monotonic()
                item = load()
                log.info("loaded %s %s in %.1fs", self.name, key, time.monotonic() - started)
                with self._lock:
                    self._items[key] = item
                    self.load_counts[key] = self.load_counts.get(key, 0) + 1
            with self._lock:
                self._last_used[key] = time.monotonic()
            return item

    def is_loaded(self, key: str) -> bool:
        """Whether `key` is in memory now (never loads)."""
        with self._lock:
            return key in self._items

    def unload_idle(self, now: float | None = None) -> list[str]:
        """Drop keys idle longer than `idle_seconds`; return them."""
        if self.idle_seconds <= 0:
            return []
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [
                key
                for key, used in self._last_used.items()
                if key in self._items and now - used > self.idle_seconds
            ]
            for key in idle:
                del self._items[key]
                self.unload_counts[key] = self.unload_counts.get(key, 0) + 1
        for key in idle:
            log.info("unloaded %s %s after %.0fs idle", self.name, key, self.idle_seconds)
        return idle

    def close(self) -> None:
        """Drop everything (shutdown)."""
        with self._lock:
            self._items.clear()
