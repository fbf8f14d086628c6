"""Speech regions -> windows of at most 30 s, with the map back to file time.

A window is one or more spans of the file (speech with its padding) decoded as
one 30-s Whisper input: the spans are concatenated, silence between them
dropped, and `Window.to_file_time` maps any time inside the window back to the
file's timeline. Regions longer than the window are cut at their quietest frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from common.pcm import to_float32
from segmenter.constants import FRAME_SAMPLES, MAX_WINDOW_SECONDS, MIN_WINDOW_SECONDS, SAMPLE_RATE
from segmenter.source import SampleSource
from segmenter.vad import VadOptions

Span = tuple[int, int]
"""[start, end) in samples of the file."""


@dataclass(frozen=True)
class Window:
    """One decoding unit."""

    spans: tuple[Span, ...]
    """File spans concatenated into this window, in order, non-overlapping."""

    @property
    def samples(self) -> int:
        return sum(end - start for start, end in self.spans)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE

    @property
    def start(self) -> float:
        """File time where the window's audio starts."""
        return self.spans[0][0] / SAMPLE_RATE

    @property
    def end(self) -> float:
        """File time where the window's audio ends."""
        return self.spans[-1][1] / SAMPLE_RATE

    def audio(self, samples: SampleSource) -> npt.NDArray[np.float32]:
        """The window's samples as float32 (int16 input is scaled to [-1, 1))."""
        if len(self.spans) == 1:
            start, end = self.spans[0]
            piece = samples[start:end]
        else:
            piece = np.concatenate([samples[s:e] for s, e in self.spans])
        return to_float32(piece)

    def to_file_time(self, seconds: float) -> float:
        """Map a time inside the window (seconds from its start) to the file's timeline."""
        offset = max(0.0, seconds) * SAMPLE_RATE
        for start, end in self.spans:
            length = end - start
            if offset <= length:
                return (start + offset) / SAMPLE_RATE
            offset -= length
        return self.end


def speech_regions(probs: npt.NDArray[np.float32], total: int, opts: VadOptions) -> list[Span]:
    """Hysteresis over frame probabilities -> padded, merged speech spans in samples."""
    frame_ms = FRAME_SAMPLES * 1000 / SAMPLE_RATE
    silence_frames = max(1, round(opts.silence_ms / frame_ms))
    min_frames = max(1, round(opts.min_speech_ms / frame_ms))
    low = max(0.01, opts.threshold - 0.15)
    regions: list[tuple[int, int]] = []
    start: int | None = None
    quiet = 0
    for i, p in enumerate(probs):
        if start is None:
            if p >= opts.threshold:
                start, quiet = i, 0
            continue
        quiet = quiet + 1 if p < low else 0
        if quiet >= silence_frames:
            regions.append((start, i - quiet + 1))
            start = None
    if start is not None:
        regions.append((start, len(probs)))
    pad = round(opts.padding_ms * SAMPLE_RATE / 1000)
    spans: list[Span] = []
    for first, last in regions:
        if last - first < min_frames:
            continue
        s = max(0, first * FRAME_SAMPLES - pad)
        e = min(total, last * FRAME_SAMPLES + pad)
        if spans and s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return spans


def _quietest_cut(samples: SampleSource, lo: int, hi: int) -> int:
    """Sample index of the lowest-energy 32-ms frame within [lo, hi)."""
    first, last = lo // FRAME_SAMPLES, max(lo // FRAME_SAMPLES + 1, hi // FRAME_SAMPLES)
    frames = samples[first * FRAME_SAMPLES : last * FRAME_SAMPLES]
    frames = frames[: frames.shape[0] // FRAME_SAMPLES * FRAME_SAMPLES].reshape(-1, FRAME_SAMPLES)
    if frames.shape[0] == 0:
        return hi
    energy = (frames.astype(np.float64) ** 2).mean(axis=1)
    best = int(np.argmin(energy))
    return (first + best) * FRAME_SAMPLES + FRAME_SAMPLES // 2


PREFERRED_CUT_SECONDS = 20.0
"""Cuts inside long speech are searched from here to the window's end (fewer windows)."""


def split_long(
    spans: list[Span], samples: SampleSource, first_max_seconds: float | None = None
) -> list[Span]:
    """Cut spans longer than a window at their quietest point; pieces >= 10 s.

    `first_max_seconds` caps the first piece (streaming: the first text arrives sooner).
    """
    max_len = int(MAX_WINDOW_SECONDS * SAMPLE_RATE)
    min_len = int(MIN_WINDOW_SECONDS * SAMPLE_RATE)
    preferred = int(PREFERRED_CUT_SECONDS * SAMPLE_RATE)
    out: list[Span] = []
    if first_max_seconds is not None and spans:
        first_max = int(first_max_seconds * SAMPLE_RATE)
        start, end = spans[0]
        if end - start > first_max + min_len // 2:
            cut = _quietest_cut(samples, start + first_max // 2, start + first_max)
            out.append((start, cut))
            spans = [(cut, end), *spans[1:]]
    for start, end in spans:
        while end - start > max_len:
            hi = min(max_len, end - start - min_len)
            lo = min(preferred, hi)
            cut = _quietest_cut(samples, start + lo, start + hi)
            out.append((start, cut))
            start = cut
        out.append((start, end))
    return out


def plan_windows(
    spans: list[Span], samples: SampleSource, first_max_seconds: float | None = None
) -> list[Window]:
    """Pack consecutive spans into windows of at most 30 s (gaps dropped); the first
    window at most `first_max_seconds` when given."""
    max_len = int(MAX_WINDOW_SECONDS * SAMPLE_RATE)
    first_len = int((first_max_seconds or MAX_WINDOW_SECONDS) * SAMPLE_RATE)
    windows: list[Window] = []
    current: list[Span] = []
    length = 0
    for span in split_long(spans, samples, first_max_seconds):
        size = span[1] - span[0]
        limit = first_len if not windows else max_len
        if current and length + size > limit:
            windows.append(Window(tuple(current)))
            current, length = [], 0
        current.append(span)
        length += size
    if current:
        windows.append(Window(tuple(current)))
    return windows


def segment(
    samples: SampleSource, probs: npt.NDArray[np.float32], opts: VadOptions,
    first_max_seconds: float | None = None,
) -> list[Window]:  # fmt: skip
    """VAD probabilities + audio -> windows."""
    spans = speech_regions(probs, samples.shape[0], opts)
    return plan_windows(spans, samples, first_max_seconds)


def first_window(
    samples: SampleSource, probs: npt.NDArray[np.float32], opts: VadOptions,
    first_max_seconds: float, complete: bool = False,
) -> Window | None:  # fmt: skip
    """Streaming: the first window, planned from the VAD of a prefix of the file, so
    decoding starts before the rest is analysed. None when the prefix holds no speech,
    or when its first window reaches so near the prefix's end that more audio could
    still change it (unless `complete`: the probabilities cover the whole file)."""
    known = min(samples.shape[0], probs.shape[0] * FRAME_SAMPLES)
    windows = plan_windows(speech_regions(probs, known, opts), samples, first_max_seconds)
    if not windows:
        return None
    margin = round((opts.silence_ms + opts.padding_ms) * SAMPLE_RATE / 1000) + FRAME_SAMPLES
    if complete or windows[0].spans[-1][1] + margin <= known:
        return windows[0]
    return None


def windows_after(
    samples: SampleSource, probs: npt.NDArray[np.float32], opts: VadOptions, after: int
) -> list[Window]:
    """Windows of the speech from sample `after` on (the rest of a file whose first
    window was planned by `first_window`): regions are clipped there, so no audio is
    decoded twice or skipped."""
    spans = speech_regions(probs, samples.shape[0], opts)
    return plan_windows([(max(s, after), e) for s, e in spans if e > after], samples)
