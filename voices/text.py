"""Text front-end: normalisation and sentence splitting (English and Arabic)."""

from __future__ import annotations

import re

from voices.arabic_numbers import arabic_number_words

_EASTERN_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_SENTENCE_END = re.compile(r"(?<=[.!?؟۔…])\s+|\n+")
_CLAUSE_BREAK = re.compile(r"(?<=[,;،؛:])\s+")
MAX_SENTENCE_CHARS = 400
"""Longer sentences are split at clause breaks (or words) so streaming stays prompt."""

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
