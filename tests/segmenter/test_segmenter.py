"""The segmenter's pure functions on synthetic speech/silence patterns."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from segmenter.constants import FRAME_SAMPLES, SAMPLE_RATE
from segmenter.vad import SileroVad, VadOptions
from segmenter.windows import (
    Window,
    first_window,
    plan_windows,
    segment,
    speech_regions,
    windows_after,
)

OPTS = VadOptions(threshold=0.5, silence_ms=500, padding_ms=200, min_speech_ms=120)
FPS = SAMPLE_RATE / FRAME_SAMPLES  # frames per second


def pattern(*parts: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """(seconds, probability) parts -> (audio with noise where speech, frame probs)."""
    probs = np.concatenate([np.full(round(sec * FPS), p, np.float32) for sec, p in parts])
    rng = np.random.default_rng(0)
    audio = np.repeat(probs, FRAME_SAMPLES) * rng.standard_normal(probs.size * FRAME_SAMPLES)
    return audio.astype(np.float32) * 0.3, probs


def _check(windows: list[Window], total: int) -> None:
    previous_end = 0
    for window in windows:
        assert window.seconds <= 30.0 + 1e-6
        for start, end in window.spans:
            assert 0 <= previous_end <= start < end <= total
            previous_end = end


def test_all_silence_gives_no_window() -> None:
    audio, probs = pattern((60, 0.01))
    assert segment(audio, probs, OPTS) == []


def test_one_word() -> None:
    audio, probs = pattern((3, 0.0), (0.4, 0.9), (3, 0.0))
    windows = segment(audio, probs, OPTS)
    assert len(windows) == 1
    assert windows[0].start == pytest.approx(3 - 0.2, abs=0.05)
    assert windows[0].seconds == pytest.approx(0.4 + 0.4, abs=0.07)


def test_click_shorter_than_min_speech_is_dropped() -> None:
    audio, probs = pattern((2, 0.0), (0.05, 0.9), (2, 0.0))
    assert segment(audio, probs, OPTS) == []


@pytest.mark.parametrize(("seconds", "counts"), [(29.3, {1}), (30.1, {2}), (75.0, {3, 4})])
def test_long_regions_are_cut_into_windows_of_10_to_30_s(seconds: float, counts: set[int]) -> None:
    audio, probs = pattern((1, 0.0), (seconds, 0.9), (1, 0.0))
    windows = segment(audio, probs, OPTS)
    count = len(windows)
    assert count in counts
    _check(windows, audio.shape[0])
    if count > 1:
        assert all(w.seconds >= 10.0 for w in windows[:-1])
        assert sum(w.seconds for w in windows) == pytest.approx(seconds + 0.4, abs=0.1)


def test_cut_lands_on_the_quietest_point() -> None:
    audio, probs = pattern((40, 0.9))
    quiet_at = 24 * SAMPLE_RATE
    audio[quiet_at : quiet_at + 2 * FRAME_SAMPLES] = 0.0
    windows = segment(audio, probs, OPTS)
    assert abs(windows[0].spans[-1][1] - quiet_at) <= 2 * FRAME_SAMPLES


def test_speech_touching_both_ends() -> None:
    audio, probs = pattern((12, 0.9), (2, 0.0), (12, 0.9))
    windows = segment(audio, probs, OPTS)
    assert len(windows) == 1 and len(windows[0].spans) == 2
    assert windows[0].spans[0][0] == 0 and windows[0].spans[-1][1] == audio.shape[0]


def test_gaps_are_dropped_and_time_maps_back() -> None:
    audio, probs = pattern((5, 0.9), (10, 0.0), (5, 0.9))
    (window,) = segment(audio, probs, OPTS)
    first, second = window.spans
    assert window.seconds == pytest.approx((first[1] - first[0] + second[1] - second[0]) / 16000)
    inside_first = 1.0
    assert window.to_file_time(inside_first) == pytest.approx(1.0)
    first_len = (first[1] - first[0]) / SAMPLE_RATE
    assert window.to_file_time(first_len + 0.5) == pytest.approx(second[0] / SAMPLE_RATE + 0.5)
    assert window.to_file_time(999) == window.end


def test_random_patterns_keep_the_invariants() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        parts = [(float(rng.uniform(0.1, 20)), float(rng.choice([0.0, 0.95]))) for _ in range(12)]
        audio, probs = pattern(*parts)
        windows = segment(audio, probs, OPTS)
        _check(windows, audio.shape[0])
        speech = speech_regions(probs, audio.shape[0], OPTS)
        covered = sum(w.samples for w in windows)
        assert covered == sum(e - s for s, e in speech)
        assert plan_windows(speech, audio) == windows


PREFIX_FRAMES = 2048  # one VAD block, as streaming plans its first window


def _stream_plan(audio: np.ndarray, probs: np.ndarray) -> list[Window]:
    """What streaming decodes: the first window from the shortest settling prefix of
    VAD blocks, then the windows after it."""
    for end in range(PREFIX_FRAMES, probs.shape[0] + PREFIX_FRAMES, PREFIX_FRAMES):
        complete = end >= probs.shape[0]
        first = first_window(audio, probs[:end], OPTS, 5.0, complete)
        if first is not None:
            return [first, *windows_after(audio, probs, OPTS, first.spans[-1][1])]
    return []


@pytest.mark.parametrize(
    "parts",
    [
        [(3, 0.0), (40, 0.9), (2, 0.0)],  # a long region, cut inside the prefix
        [(63, 0.0), (20, 0.9)],  # speech starts just before the prefix's end
        [(61, 0.0), (3, 0.9), (1, 0.0), (8, 0.9)],  # ...and reaches past it
        [(2, 0.0), (1, 0.9), (70, 0.0), (5, 0.9)],  # one word, then speech beyond the prefix
        [(150, 0.0), (4, 0.9), (1, 0.0)],  # silence for more than two blocks
        [(90, 0.0)],  # no speech at all
    ],
)
def test_streaming_plan_covers_the_same_speech_once(parts: list[tuple[float, float]]) -> None:
    audio, probs = pattern(*parts)
    streamed = _stream_plan(audio, probs)
    _check(streamed, audio.shape[0])
    speech = speech_regions(probs, audio.shape[0], OPTS)
    assert sum(w.samples for w in streamed) == sum(e - s for s, e in speech)
    whole = segment(audio, probs, OPTS, 5.0)
    if whole:
        assert streamed[0].spans[0] == whole[0].spans[0]
        assert streamed[0].seconds <= 5.0 + 0.5
    else:
        assert streamed == []


def test_first_window_waits_while_speech_runs_into_the_prefix_end() -> None:
    audio, probs = pattern((60, 0.0), (8, 0.9), (2, 0.0))
    assert first_window(audio, probs[:PREFIX_FRAMES], OPTS, 5.0) is None
    settled = first_window(audio, probs, OPTS, 5.0, complete=True)
    assert settled is not None and settled.start == pytest.approx(60 - 0.2, abs=0.05)


def test_silero_on_real_silence_and_noise() -> None:
    vad = SileroVad()
    silence = np.zeros(SAMPLE_RATE * 20, np.float32)
    noise = (np.random.default_rng(2).standard_normal(SAMPLE_RATE * 20) * 0.2).astype(np.float32)
    for audio in (silence, noise):
        probs = vad.probabilities(audio)
        assert probs.shape == (-(-audio.shape[0] // FRAME_SAMPLES),)
        assert segment(audio, probs, VadOptions()) == []


def test_requests_run_the_shared_vad_at_the_same_time() -> None:
    """One Silero session serves every request: a clip's VAD does not wait for another
    request's block, and each keeps its own recurrent state (same probabilities as alone)."""
    vad = SileroVad()
    rng = np.random.default_rng(4)
    audios = [(rng.standard_normal(SAMPLE_RATE * 3) * 0.2).astype(np.float32) for _ in range(2)]
    alone = [vad.probabilities(audio) for audio in audios]
    session = vad._session
    both_inside = threading.Barrier(2, timeout=10)

    class Meeting:
        """Each call waits inside the session until the other request's call is there too."""

        def run(self, *args: Any) -> Any:
            both_inside.wait()
            return session.run(*args)

    vad._session = Meeting()
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(vad.probabilities, audios))
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
