"""Formatting and timestamp hygiene, on hand-made transcripts."""

from __future__ import annotations

import io

import srt
import webvtt

from audio.media.formats import render
from transcriber.types import Segment, Transcript


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
