"""Formatting and timestamp hygiene, on hand-made transcripts."""

from __future__ import annotations

import io
from types import SimpleNamespace

import srt
import webvtt

from audio.formats import render
from audio.stt import clean_segments
from audio.types import Segment, Transcript


def _seg(i: int, start: float, end: float, text: str) -> Segment:
    return Segment(i, 0, start, end, text, (1, 2), 0.0, -0.2, 1.1, 0.01)


TRANSCRIPT = Transcript(
    task="transcribe",
    language="de",
    duration=3725.5,
    segments=(_seg(0, 0.0, 1.5, " Hallo."), _seg(1, 3661.25, 3725.5, " Welt, zwei Zeilen.")),
)


def test_srt_parses_and_has_hours() -> None:
    body = render(TRANSCRIPT, "srt", frozenset(), "req_x").text
    assert body is not None
    subs = list(srt.parse(body))
    assert [s.content for s in subs] == ["Hallo.", "Welt, zwei Zeilen."]
    assert body.splitlines()[5] == "01:01:01,250 --> 01:02:05,500"


def test_vtt_parses() -> None:
    body = render(TRANSCRIPT, "vtt", frozenset(), "req_x").text
    assert body is not None and body.startswith("WEBVTT\n\n")
    captions = webvtt.from_buffer(io.StringIO(body))
    assert captions[1].start == "01:01:01.250"


def test_verbose_json_language_name_and_translate() -> None:
    body = render(TRANSCRIPT, "verbose_json", frozenset({"segment"}), "req_x").json
    assert body is not None and body["language"] == "german" and "words" not in body
    translated = Transcript("translate", "de", 1.0, ())
    out = render(translated, "verbose_json", frozenset({"word"}), "req_y").json
    assert out is not None
    assert out["language"] == "english" and out["words"] == [] and "segments" not in out


def _raw(start: float, end: float, words: list[tuple[float, float]]) -> SimpleNamespace:
    return SimpleNamespace(
        seek=0,
        start=start,
        end=end,
        text=" x",
        tokens=[1],
        temperature=0.0,
        avg_logprob=0.0,
        compression_ratio=1.0,
        no_speech_prob=0.0,
        words=[SimpleNamespace(word=" w", start=s, end=e, probability=0.9) for s, e in words],
    )


def test_times_clamped_and_monotone() -> None:
    raw = [
        _raw(-0.5, 2.0, [(-0.2, 0.5), (0.4, 0.3), (1.0, 2.0)]),
        _raw(1.5, 9.0, [(1.8, 2.5), (2.4, 12.0)]),
    ]
    segments = list(clean_segments(raw, duration=5.0))
    words = [w for s in segments for w in s.words]
    starts = [w.start for w in words]
    ends = [w.end for w in words]
    assert starts == sorted(starts) and ends == sorted(ends)
    assert all(0.0 <= w.start <= w.end <= 5.0 for w in words)
    assert segments[1].start >= segments[0].start and segments[1].end <= 5.0
