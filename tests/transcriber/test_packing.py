"""Planning shared windows and splitting their words (no model)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transcriber.packing import (
    PACK_CLIP_SECONDS,
    PACK_GAP_SECONDS,
    PACK_WINDOW_SECONDS,
    Packable,
    covers,
    plan,
)
from transcriber.types import Word


def test_clips_of_one_group_fill_windows_in_arrival_order() -> None:
    clips = [Packable("a", 8.0), Packable("a", 8.0), Packable("a", 8.0), Packable("a", 8.0)]
    packs = plan(clips, first=10)
    assert [p.members for p in packs] == [(10, 11, 12), (13,)]
    assert packs[0].offsets == (0.0, 8.0 + PACK_GAP_SECONDS, 16.0 + 2 * PACK_GAP_SECONDS)
    assert packs[0].seconds == 24.0 + 2 * PACK_GAP_SECONDS <= PACK_WINDOW_SECONDS
    assert not packs[1].shared


def test_groups_never_mix_and_some_clips_stay_alone() -> None:
    long = PACK_CLIP_SECONDS + 0.5
    clips = [Packable("a", 4.0), Packable("b", 4.0), Packable(None, 4.0), Packable(None, 4.0),
             Packable("a", long), Packable("b", 5.0), Packable("a", 3.0)]  # fmt: skip
    assert [p.members for p in plan(clips)] == [(0, 6), (1, 5), (2,), (3,), (4,)]


def test_a_window_takes_what_fits() -> None:
    clips = [Packable("a", 12.0), Packable("a", 12.0), Packable("a", 3.0), Packable("a", 1.0)]
    assert [p.members for p in plan(clips)] == [(0, 1), (2, 3)]


def _word(text: str, start: float, end: float) -> Word:
    return Word(text, start, end, 0.9)


def test_words_go_to_the_clip_on_their_side_of_the_silence() -> None:
    (pack,) = plan([Packable("a", 4.0), Packable("a", 3.0)])
    words = [_word(" one", 0.1, 0.9), _word(" two", 3.2, 4.4),  # ends in the gap: still clip 1
             _word(" three", 4.6, 5.2), _word(" four", 6.0, 7.9)]  # fmt: skip
    first, second = pack.split(words)
    assert [w.word for w in first] == [" one", " two"]
    assert [w.word for w in second] == [" three", " four"]
    assert [t for w in second for t in (w.start, w.end)] == pytest.approx([0.0, 0.2, 1.0, 2.9])


def test_a_clip_whose_words_stop_short_is_not_covered() -> None:
    words = [_word(" hello", 0.3, 0.8), _word(" there", 0.9, 1.4)]
    assert covers(words, 2.0)
    assert not covers(words, 6.0)  # its last four seconds went unread
    assert not covers([], 2.0)
    assert not covers([_word(" late", 3.0, 3.5)], 4.0)


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.floats(0.1, 30.0)), max_size=40),
    st.integers(0, 5),
)
def test_every_clip_is_planned_once_within_its_group_and_the_window(
    clips: list[tuple[str | None, float]], first: int
) -> None:
    packs = plan([Packable(group, seconds) for group, seconds in clips], first)
    members = sorted(m for p in packs for m in p.members)
    assert members == list(range(first, first + len(clips)))
    for pack in packs:
        if not pack.shared:
            continue
        chosen = [clips[m - first] for m in pack.members]
        assert len({group for group, _ in chosen}) == 1 and chosen[0][0] is not None
        assert all(seconds <= PACK_CLIP_SECONDS for _, seconds in chosen)
        assert pack.seconds <= PACK_WINDOW_SECONDS + 1e-9
        assert list(pack.members) == sorted(pack.members)  # arrival order kept
