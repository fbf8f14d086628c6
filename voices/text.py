"""Text front-end: normalisation and sentence splitting (English and Arabic)."""

from __future__ import annotations

import re

from voices.arabic_numbers import arabic_number_words

_EASTERN_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_SENTENCE_END = re.compile(r"(?<=[.!?؟۔…])\s+|\n+")
_CLAUSE_BREAK = re.compile(r"(?<=[,;،؛:])\s+")
MAX_SENTENCE_CHARS = 400
"""Longer sentences are split at clause breaks (or words) so streaming stays prompt."""
FIRST_CHUNK_CHARS = 36
"""A first sentence longer than this is cut at its first clause or phrase boundary, so
the first audio of a stream comes after a short render (about 0.15 s on 2 cores)."""
MIN_CHUNK_CHARS = 12
"""Neither side of that cut is shorter than this (no one-word fragments)."""
_PHRASE_START = re.compile(
    r"\s+(?=(?:but|with|without|from|for|to|in|on|at|that|which|who|because"
    r"|when|while|if|as|than|after|before|since|until|into|over|under|through|about)\b)",
    re.IGNORECASE,
)
"""A space before an English word that opens a phrase or clause (not `and`/`or`, which
also join single words)."""
_CONJUNCTION = re.compile(r"\s+(?=(?:and|or|so|then|but)\b)", re.IGNORECASE)
"""A space before a conjunction: a last resort when pacing must cut a long sentence
(both sides then hold at least MIN_CHUNK_CHARS, so single words are not split off)."""

_TIME = re.compile(r"\b(\d{1,2})[:٫](\d{2})\b")
_PERCENT = re.compile(r"(\d+(?:[.,٫]\d+)?)\s*[%٪]")
_NUMBER = re.compile(r"\d+(?:[.,٫]\d+)?")
_HOURS = {
    1: "الواحدة", 2: "الثانية", 3: "الثالثة", 4: "الرابعة", 5: "الخامسة", 6: "السادسة",
    7: "السابعة", 8: "الثامنة", 9: "التاسعة", 10: "العاشرة", 11: "الحادية عشرة",
    12: "الثانية عشرة",
}  # fmt: skip


def _arabic_time(match: re.Match[str]) -> str:
    hour, minute = int(match.group(1)), int(match.group(2))
    if not (0 <= hour <= 24 and 0 <= minute < 60):
        return match.group(0)
    words = _HOURS[(hour % 12) or 12]
    if minute == 0:
        return words
    if minute == 30:
        return f"{words} والنصف"
    if minute == 15:
        return f"{words} والربع"
    return f"{words} و{arabic_number_words(minute)} دقيقة"


def _arabic_decimal(text: str) -> str:
    whole, _, frac = text.replace("٫", ".").replace(",", ".").partition(".")
    words = arabic_number_words(int(whole))
    return f"{words} فاصلة {arabic_number_words(int(frac))}" if frac else words


def normalise_arabic(text: str) -> str:
    """Digits (Western or Eastern), times and percentages to Arabic words."""
    text = text.translate(_EASTERN_DIGITS)
    text = _TIME.sub(_arabic_time, text)
    text = _PERCENT.sub(lambda m: f"{_arabic_decimal(m.group(1))} بالمئة", text)
    return _NUMBER.sub(lambda m: _arabic_decimal(m.group(0)), text)


def normalise(text: str, language: str) -> str:
    text = re.sub(r"[ \t\r\f\v]+", " ", text).strip()
    return normalise_arabic(text) if language == "ar" else text


def split_sentences(text: str) -> list[str]:
    """Sentences (on . ! ? ؟ … and newlines), long ones cut at clause breaks."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        if len(sentence) <= MAX_SENTENCE_CHARS:
            out.append(sentence)
            continue
        out.extend(_cut_long(sentence))
    return out


def shorten_first(sentences: list[str], limit: int = FIRST_CHUNK_CHARS) -> list[str]:
    """Cut a first sentence longer than `limit` at its first clause break (`,` `;` `:`
    `،` `؛`), else before its first phrase word (`with`, `because`, ...), within
    `limit` * 1.5; a sentence with neither is left whole. A small `limit` (a slow engine)
    lets the head be as short as one word before a comma ("Sure,")."""
    if not sentences or len(sentences[0]) <= limit:
        return sentences
    first = sentences[0]
    shortest = min(MIN_CHUNK_CHARS, max(limit // 3, 4))
    for pattern, min_head in ((_CLAUSE_BREAK, shortest), (_PHRASE_START, MIN_CHUNK_CHARS)):
        for match in pattern.finditer(first):
            head, tail = first[: match.start()].strip(), first[match.end() :].strip()
            if len(head) > int(limit * 1.5):
                break
            if len(head) >= min_head and len(tail) >= MIN_CHUNK_CHARS:
                return [head, tail, *sentences[1:]]
    return sentences


def split_to_fit(
    sentence: str, limit: int, shortest: int = MIN_CHUNK_CHARS
) -> tuple[str, str] | None:
    """The longest head of `sentence` no longer than `limit` that ends at a clause break
    or before a phrase word, and the rest; None where no such cut leaves both sides at
    least `shortest` long (the sentence is then rendered whole). A clause break or
    phrase word is preferred; a conjunction only where neither fits."""
    for tier in ((_CLAUSE_BREAK, _PHRASE_START), (_CONJUNCTION,)):
        cuts = [(sentence[: m.start()].strip(), sentence[m.end() :].strip())
                for pattern in tier for m in pattern.finditer(sentence)]  # fmt: skip
        fitting = [
            (head, tail)
            for head, tail in cuts
            if shortest <= len(head) <= limit and len(tail) >= shortest
        ]
        if fitting:
            return max(fitting, key=lambda cut: len(cut[0]))
    return None


def _cut_long(sentence: str) -> list[str]:
    pieces: list[str] = []
    current = ""
    for part in _CLAUSE_BREAK.split(sentence):
        for word in part.split(" ") if len(part) > MAX_SENTENCE_CHARS else [part]:
            if current and len(current) + len(word) + 1 > MAX_SENTENCE_CHARS:
                pieces.append(current)
                current = word
            else:
                current = f"{current} {word}".strip()
    if current:
        pieces.append(current)
    return pieces
