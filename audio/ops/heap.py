"""glibc heap settings of the `serve` process (no-ops where the C library is not glibc)."""

from __future__ import annotations

import ctypes
import functools
import sys

M_ARENA_MAX = -8
"""glibc's mallopt parameter number for the arena limit."""


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas before the server starts its threads."""
    libc = _libc()
    return arenas > 0 and libc is not None and bool(libc.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Give the free pages at the top of every arena back to the system. Decoding frees
    large buffers (features, encoder outputs, PCM) that glibc otherwise keeps, so RSS
    would ratchet up with the largest mix of requests seen; called when the reaper runs."""
    libc = _libc()
    return libc is not None and bool(libc.malloc_trim(0))
