"""A decoded window's text split into sentence segments on the file's timeline."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from segmenter.windows import Window
from transcriber.types import Segment, Word
from transcriber.whisper import WindowText

SENTENCE_END = (".", "?", "!", "。", "？", "！", "؟")
MAX_SEGMENT_SECONDS = 12.0
"""A segment without sentence punctuation is closed after this long."""

TextTokens = Callable[[str, str], tuple[int, ...]]
"""(language, text) -> the text's tokens."""


def sentences(window: Window, decoded: WindowText, text_tokens: TextTokens) -> Iterator[Segment]:
    """Split a window's text into sentence segments using its word times.

    A sentence's `tokens` are its text re-encoded (the window's own tokens when the
    window is one sentence). Windows are decoded without timestamp tokens (as
    faster-whisper's batched pipeline does: with them, base models drop the tail of
    a full 30-s window); segment boundaries come from the cross-attention word
    alignment.
    """
    words = [
        replace(w, start=window.to_file_time(w.start), end=window.to_file_time(w.end))
        for w in decoded.words
    ]
    groups: list[list[Word]] = []
    for word in words:
        if not groups or _sentence_done(groups[-1]):
            groups.append([])
        groups[-1].append(word)
    if not groups and decoded.text.strip():
        groups = [[]]
    for group in groups:
        text = "".join(w.word for w in group) if group else decoded.text
        tokens = decoded.tokens if len(groups) == 1 else text_tokens(decoded.language, text)
        yield Segment(
            id=0, seek=int(window.start * 100),
            start=group[0].start if group else window.start,
            end=group[-1].end if group else window.end,
            text=text, tokens=tokens, temperature=0.0, avg_logprob=decoded.avg_logprob,
            compression_ratio=decoded.compression_ratio,
            no_speech_prob=decoded.no_speech_prob, words=tuple(group),
        )  # fmt: skip


def _sentence_done(group: list[Word]) -> bool:
    if not group:
        return False
    ends_sentence = group[-1].word.rstrip().endswith(SENTENCE_END)
    return ends_sentence or group[-1].end - group[0].start >= MAX_SEGMENT_SECONDS
