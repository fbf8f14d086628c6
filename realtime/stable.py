"""Interim text that is never taken back: which words of a turn being spoken are stable.

Words two decodes in a row agree on, and all but the newest decode's last word, are
sent as `delta` once; the last word waits for the next decode (the end of the audio may
cut it, and Whisper revises the last word most) unless the audio ends in a pause."""

from __future__ import annotations

import re

HELD_BACK_WORDS = 1
"""An interim decode's last word waits for the next decode ..."""
PAUSE_SECONDS = 0.1
"""... unless the audio decoded ends in a pause this long (the VAD's frames): then the
last word is whole, and it goes out at once."""


def words(text: str) -> list[str]:
    return text.split()


def _norm(word: str) -> str:
    return re.sub(r"[^\w']", "", word.lower())


def agreed(a: list[str], b: list[str]) -> int:
    """How many leading words two hypotheses share (ignoring case and punctuation)."""
    n = 0
    while n < min(len(a), len(b)) and _norm(a[n]) == _norm(b[n]):
        n += 1
    return n


def stable(decoded: list[str], previous: list[str], paused: bool) -> int:
    """How many leading words of the newest decode are stable: what it and the previous
    decode agree on, and anything but its last words (those the audio may still cut)."""
    held = 0 if paused else HELD_BACK_WORDS
    return max(agreed(decoded, previous), len(decoded) - held)


def rest_of_final(final: list[str], sent: list[str]) -> str | None:
    """What a turn's final text adds to the words already sent, if it continues them."""
    if len(final) > len(sent) and agreed(final, sent) == len(sent):
        return (" " if sent else "") + " ".join(final[len(sent) :])
    return None
