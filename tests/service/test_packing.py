"""Short clips of one caller share an encoder window; other callers' clips never do."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..helpers import JFK_REFERENCE, SAMPLES, live_server, normalise, wer

HELLO_REFERENCE = "Hello, this is a short test of the speech service."


@pytest.fixture(scope="module")
def server(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """One decoder that waits half a second for a batch to fill: concurrent requests
    meet in one batch, as they do under load."""
    settings = make_settings(api_keys=["alice", "bob"], stt={"decoders": 1, "batch_wait_ms": 500})
    with live_server(settings) as (url, _app):
        yield url


def _packed(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(s.value for family in text_string_to_metric_families(text)
               for s in family.samples if s.name == "speech_clips_packed_total")  # fmt: skip


def _both(url: str, jfk: bytes, keys: tuple[str, str], **fields: str) -> tuple[str, str]:
    def post(body: bytes, key: str) -> str:
        response = httpx.post(
            f"{url}/v1/audio/transcriptions", headers={"authorization": f"Bearer {key}"},
            data={"model": "whisper-base", **fields}, files={"file": ("a.wav", body)},
            timeout=120,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return str(response.json()["text"])

    hello = (SAMPLES / "hello_en.wav").read_bytes()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, jfk, keys[0])
        second = pool.submit(post, hello, keys[1])
        return first.result(), second.result()


def _check(jfk_text: str, hello_text: str) -> None:
    """Each text is its own clip's, and holds nothing of the other clip."""
    assert wer(JFK_REFERENCE, jfk_text) <= 0.1, jfk_text
    assert wer(HELLO_REFERENCE, hello_text) <= 0.1, hello_text
    assert not {"hello", "test", "speech"} & set(normalise(jfk_text).split())
    assert not {"country", "americans", "fellow"} & set(normalise(hello_text).split())


@pytest.mark.parametrize(
    ("keys", "fields", "shared"),
    [(("alice", "alice"), {"language": "en"}, 2),
     (("alice", "bob"), {"language": "en"}, 0),  # two callers: never one window
     (("alice", "alice"), {}, 0)],  # no language: each clip's own is detected
    ids=["same-caller", "two-callers", "no-language"],
)  # fmt: skip
def test_concurrent_short_clips(
    server: str, shared_samples: Path, keys: tuple[str, str], fields: dict[str, str],
    shared: int,
) -> None:  # fmt: skip
    before = _packed(server)
    jfk_text, hello_text = _both(server, (shared_samples / "jfk.flac").read_bytes(), keys,
                                 **fields)  # fmt: skip
    _check(jfk_text, hello_text)
    assert _packed(server) - before == shared


def test_shared_window_keeps_word_times_per_clip(server: str, shared_samples: Path) -> None:
    """verbose_json with words: each clip's times are its own, from 0 to its length."""
    jfk = (shared_samples / "jfk.flac").read_bytes()
    before = _packed(server)
    fields = {"language": "en", "response_format": "verbose_json",
              "timestamp_granularities[]": "word"}  # fmt: skip
    results: list[dict[str, object]] = []

    def post(body: bytes) -> None:
        response = httpx.post(
            f"{server}/v1/audio/transcriptions", headers={"authorization": "Bearer bob"},
            data={"model": "whisper-base", **fields}, files={"file": ("a.wav", body)},
            timeout=120,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        results.append(response.json())

    hello = (SAMPLES / "hello_en.wav").read_bytes()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(post, [jfk, hello]))
    assert _packed(server) - before == 2
    by_length = sorted(results, key=lambda body: float(body["duration"]))  # type: ignore[arg-type]
    for body, reference in zip(by_length, [HELLO_REFERENCE, JFK_REFERENCE], strict=True):
        words = body["words"]
        assert isinstance(words, list)
        assert wer(reference, " ".join(str(w["word"]) for w in words)) <= 0.1
        duration = float(body["duration"])  # type: ignore[arg-type]
        assert 0.0 <= words[0]["start"] < 1.5
        assert duration - 1.5 < words[-1]["end"] <= duration + 0.01
        assert all(a["end"] <= b["start"] + 0.01 for a, b in itertools.pairwise(words))
