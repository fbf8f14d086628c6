"""Property tests (hypothesis, bounded): whatever a client sends, decoding, form parsing
and the Arabic text front-end either succeed or raise the contract's 400 — never
anything else, which would be a 500."""

from __future__ import annotations

import io
import os
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio.errors import InvalidRequest
from audio.media.decode import decode_audio
from audio.services.request import Fields, parse_request
from audio.settings import SttSettings
from voices.arabic_numbers import arabic_number_words
from voices.text import normalise, shorten_first, split_sentences

BOUNDED = settings(max_examples=int(os.environ.get("SPEECH_FUZZ_EXAMPLES", "150")), deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
WAV_HEADER = (
    b"RIFF\x24\x08\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00"
    b"\x00\x7d\x00\x00\x02\x00\x10\x00data\x00\x08\x00\x00"
)


@BOUNDED
@given(st.one_of(st.binary(max_size=4096), st.binary(max_size=2048).map(lambda b: WAV_HEADER + b)))
def test_decode_of_any_bytes_is_audio_or_a_400(data: bytes) -> None:
    try:
        samples = decode_audio(io.BytesIO(data), max_seconds=60)
    except InvalidRequest as exc:  # UndecodableAudio is one
        assert exc.status_code == 400 and exc.param == "file"
    else:
        assert samples.dtype.name == "float32" and samples.ndim == 1 and samples.size > 0


FIELDS = ("model", "language", "prompt", "response_format", "temperature", "stream",
          "algorithm", "timestamp_granularities[]", "chunking_strategy", "url")  # fmt: skip
values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["whisper-1", "en", "json", "verbose_json", "srt", "0.3", "true", "auto",
                     "chunked", "word", '{"type": "server_vad", "threshold": 0.4}', "2", ""]),
)  # fmt: skip


@BOUNDED
@given(st.lists(st.tuples(st.sampled_from(FIELDS), values), max_size=12),
       st.sampled_from(["transcribe", "translate"]))  # fmt: skip
def test_any_form_parses_or_is_a_400(items: list[tuple[str, str]], task: str) -> None:
    form = Fields([*items, ("url", "https://example.com/a.mp3")])
    try:
        request = parse_request(form, task, SttSettings())  # type: ignore[arg-type]
    except InvalidRequest as exc:
        assert exc.status_code == 400 and exc.message
    else:
        assert request.model.strip() and 0.0 <= request.temperature <= 1.0


arabic_or_digits = st.text(
    alphabet=st.sampled_from(list("٠١٢٣٤٥٦٧٨٩0123456789:.,٫%٪ ،؟!") + list("مرحبا بكم في الساعة")),
    max_size=120,
)


@BOUNDED
@given(arabic_or_digits)
def test_arabic_front_end_never_fails_and_spells_every_number(text: str) -> None:
    spoken = normalise(text, "ar")
    assert not re.search(r"[0-9٠-٩]", spoken), spoken  # every digit became words
    pieces = shorten_first(split_sentences(spoken))
    assert all(p.strip() for p in pieces)


@BOUNDED
@given(st.integers(min_value=0, max_value=10**15))
def test_arabic_number_words_for_any_integer(n: int) -> None:
    words = arabic_number_words(n)
    assert words and not re.search(r"[0-9]", words)
