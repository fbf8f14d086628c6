"""Short clips of several requests decoded in one 30-s window (engine side, no model).

Whisper encodes 30 s whatever it is given: an 8-s clip alone pays for 22 s of
padding, which is most of its cost on a CPU. When short clips that share decoding
options, a stated language and a caller wait together, they are laid end to end
with a second of silence between them in one window, decoded once, and each is
given back the words whose aligned times fall on its side of the silences. This
module plans the packs and splits the words; `transcriber.chunked` runs them, and
decodes a clip alone again whenever a pack's result cannot be split with
confidence.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, replace

from transcriber.types import Word

PACK_WINDOW_SECONDS = 26.0
"""Most audio, silences included, in one packed window: decoded without timestamp
tokens, Whisper base drops the end of a window filled to 30 s."""
PACK_CLIP_SECONDS = 12.0
"""Longest clip that is packed (a longer one fills most of a window by itself)."""
PACK_GAP_SECONDS = 1.0
"""Silence laid between two clips in a packed window."""
PACK_EDGE_SECONDS = 1.5
"""A member's words must start and end within this of its own start and end (its
speech, cut by the segmenter, reaches both): otherwise some of it went unread, and the
clip is decoded again alone."""


@dataclass(frozen=True)
class Packable:
    """What the planner needs to know of one clip."""

    group: Hashable | None
    """Clips pack only with clips of an equal group; None: never packed."""
    seconds: float
    """The clip's length."""


@dataclass(frozen=True)
class Pack:
    """One encoder window: a single clip, or several laid end to end."""

    members: tuple[int, ...]
    """Indexes of its clips in the batch, in the order they are laid out."""
    offsets: tuple[float, ...]
    """Where each member starts in the window, seconds."""
    seconds: float
    """Audio in the window: the members and the silences between them."""

    @property
    def shared(self) -> bool:
        return len(self.members) > 1

    def owner(self, midpoint: float) -> int:
        """Position in `members` of the clip a word centred at `midpoint` belongs to: the
        one whose side of the silences (cut at their middles) holds it."""
        cuts = [offset - PACK_GAP_SECONDS / 2 for offset in self.offsets[1:]]
        return bisect.bisect_right(cuts, midpoint)

    def split(self, words: Sequence[Word]) -> list[list[Word]]:
        """Each member's words, with times from that member's start."""
        parts: list[list[Word]] = [[] for _ in self.members]
        for word in words:
            index = self.owner((word.start + word.end) / 2)
            offset = self.offsets[index]
            parts[index].append(replace(word, start=max(0.0, word.start - offset),
                                        end=max(0.0, word.end - offset)))  # fmt: skip
        return parts


def plan(clips: Sequence[Packable], first: int = 0) -> list[Pack]:
    """The windows for `clips` (their batch indexes start at `first`), in arrival order:
    each clip goes into the first open pack of its group with room for it, else opens
    one; a clip without a group or longer than PACK_CLIP_SECONDS is alone."""
    packs: list[list[int]] = []
    lengths: list[float] = []
    for index, clip in enumerate(clips):
        packable = clip.group is not None and clip.seconds <= PACK_CLIP_SECONDS
        for p, members in enumerate(packs):
            head = clips[members[0]]
            room = PACK_WINDOW_SECONDS - lengths[p] - PACK_GAP_SECONDS
            fits = head.group == clip.group and head.seconds <= PACK_CLIP_SECONDS
            if packable and fits and clip.seconds <= room:
                members.append(index)
                lengths[p] += PACK_GAP_SECONDS + clip.seconds
                break
        else:
            packs.append([index])
            lengths.append(clip.seconds)
    result = []
    for members, length in zip(packs, lengths, strict=True):
        offsets, at = [], 0.0
        for index in members:
            offsets.append(at)
            at += clips[index].seconds + PACK_GAP_SECONDS
        result.append(Pack(tuple(first + i for i in members), tuple(offsets), length))
    return result


def covers(words: Sequence[Word], seconds: float) -> bool:
    """Whether a member's words reach from near its start to near its end (its speech,
    cut by the segmenter, fills it): if not, part of it went unread in the shared window."""
    return (
        bool(words)
        and words[0].start <= PACK_EDGE_SECONDS
        and (words[-1].end >= seconds - PACK_EDGE_SECONDS)
    )
