"""The TTS text front-end: Arabic numbers, times, percentages; sentence splitting."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt
import pytest

from voices.arabic_numbers import arabic_number_words
from voices.catalog import VoiceCatalog
from voices.synthesizer import Synthesizer
from voices.text import MAX_SENTENCE_CHARS, normalise, shorten_first, split_sentences, split_to_fit
from voices.types import SpeechOptions, VoiceError


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


def test_a_slow_engine_gets_a_short_first_chunk_cut_at_a_comma() -> None:
    reply = ["Sure, I can help with that.", "Your order shipped this morning."]
    assert shorten_first(reply) == reply  # Piper's budget: the whole first sentence
    assert shorten_first(reply, limit=9) == ["Sure,", "I can help with that.", reply[1]]


def test_pacing_cuts_at_the_longest_phrase_that_fits_or_not_at_all() -> None:
    sentence = "Your order shipped this morning and should arrive on Thursday."
    assert split_to_fit(sentence, 40) == ("Your order shipped this morning",
                                          "and should arrive on Thursday.")  # fmt: skip
    assert split_to_fit(sentence, 55) == ("Your order shipped this morning and should arrive",
                                          "on Thursday.")  # fmt: skip
    assert split_to_fit(sentence, 20) is None  # no head that short: rendered whole
    assert split_to_fit("I can help with that.", 16) is None  # a one-word tail is not cut


class _SlowEngine:
    """Renders 0.1 s of audio per character at 8 kHz, taking 5 ms per character."""

    sample_rate = 8000

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def render(self, sentence: str, rate: float) -> npt.NDArray[np.float32]:
        self.pieces.append(sentence)
        time.sleep(0.005 * len(sentence))
        return np.zeros(800 * len(sentence), np.float32)


def _slow_synthesizer() -> tuple[_SlowEngine, Synthesizer]:
    """A synthesizer whose every voice is one _SlowEngine (unshaped)."""
    engine = _SlowEngine()
    engines = SimpleNamespace(engine_for=lambda voice: ("slow", False), get=lambda _id: engine)
    return engine, Synthesizer(engines)  # type: ignore[arg-type]


def test_the_synthesizer_learns_the_engine_speed_and_shortens_the_first_chunk() -> None:
    engine, synthesizer = _slow_synthesizer()
    voice = VoiceCatalog.load().lookup("alloy")
    text = "Sure, I can help with that. Your order shipped this morning."
    list(synthesizer.stream(text, voice, SpeechOptions()))
    assert engine.pieces == ["Sure, I can help with that.", "Your order shipped this morning."]
    assert synthesizer.pace.cost("slow") == pytest.approx(0.005, rel=0.5)
    synthesizer.pace.learn("slow", 1.0, 20)  # the CPU is now shared: 50 ms per character
    engine.pieces.clear()
    warm = [c.seconds for c in synthesizer.stream(text, voice, SpeechOptions())]
    assert engine.pieces[0] == "Sure,"
    assert " ".join(engine.pieces) == text  # every word, once, in order
    assert sum(warm) == pytest.approx(0.1 * sum(map(len, engine.pieces)))


def test_a_piece_that_would_arrive_late_is_cut_into_short_halves_rather_than_starve() -> None:
    assert split_to_fit("I can help with that.", 17) is None  # no cut with 12-char sides
    assert split_to_fit("I can help with that.", 17, shortest=8) == ("I can help", "with that.")
    engine, synthesizer = _slow_synthesizer()
    synthesizer.pace.learn("slow", 0.6, 20)  # 30 ms a character: "Sure," plays 0.5 s
    voice = VoiceCatalog.load().lookup("alloy")
    list(synthesizer.stream("Sure, I can help with that.", voice, SpeechOptions()))
    assert engine.pieces == ["Sure,", "I can help", "with that."]


def test_a_whole_file_speaks_every_sentence_whole_where_a_stream_cuts_the_first() -> None:
    engine, synthesizer = _slow_synthesizer()
    voice = VoiceCatalog.load().lookup("alloy")
    text = "Please send the copies to Margaret Thompson. Sure, I can help with that."
    whole = list(synthesizer.stream(text, voice, SpeechOptions(), paced=False))
    assert engine.pieces == ["Please send the copies to Margaret Thompson.",
                             "Sure, I can help with that."]  # fmt: skip
    assert len(whole) == 2
    engine.pieces.clear()
    list(synthesizer.stream(text, voice, SpeechOptions()))
    assert engine.pieces[0] == "Please send the copies"
    assert " ".join(engine.pieces) == text
