"""The TTS text front-end: Arabic numbers, times, percentages; sentence splitting."""

from __future__ import annotations

import pytest

from voices.arabic_numbers import arabic_number_words
from voices.catalog import VoiceCatalog
from voices.text import MAX_SENTENCE_CHARS, normalise, split_sentences
from voices.types import VoiceError


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (0, "صفر"),
        (11, "أحد عشر"),
        (25, "خمسة وعشرون"),
        (200, "مئتان"),
        (2026, "ألفان وستة وعشرون"),
        (3500, "ثلاثة آلاف وخمسمئة"),
        (1_000_000, "مليون"),
        (123_456_789_012_345, "واحد اثنان ثلاثة أربعة خمسة ستة سبعة ثمانية تسعة صفر واحد اثنان "
         "ثلاثة أربعة خمسة"),
    ],
)  # fmt: skip
def test_arabic_number_words(number: int, words: str) -> None:
    assert arabic_number_words(number) == words


def test_arabic_normalisation_of_digits_times_percentages() -> None:
    text = normalise("الساعة ٣:٣٠ والحرارة 25 درجة والنسبة 12.5%", "ar")
    assert "الثالثة والنصف" in text
    assert "خمسة وعشرون درجة" in text
    assert "اثنا عشر فاصلة خمسة بالمئة" in text
    assert not any(ch.isdigit() for ch in text)


def test_every_number_any_size_is_spelled_out() -> None:
    for raw in ("٠", "9" * 40, "1,000,000", "3:75", "99:99", "0.000001"):
        assert not any(ch.isdigit() for ch in normalise(raw, "ar")), raw


def test_sentence_splitting() -> None:
    assert split_sentences("Hello there. How are you?\nفي المدينة؟ نعم") == [
        "Hello there.", "How are you?", "في المدينة؟", "نعم",
    ]  # fmt: skip
    long = split_sentences("word, " * 300)
    assert len(long) > 1 and all(len(s) <= MAX_SENTENCE_CHARS for s in long)


def test_catalog_lookup() -> None:
    catalog = VoiceCatalog.load()
    assert len(catalog.voices) == 23 + 28  # the catalog's, then Kokoro's speakers by name
    assert catalog.lookup("NOVA").name == "Arista-PlayAI"
    assert catalog.lookup("lulwa", "ar").name == "Amira-PlayAI"
    with pytest.raises(VoiceError) as err:
        catalog.lookup("Fritz-PlayAI", "ar")
    assert "Amira-PlayAI" in err.value.valid
