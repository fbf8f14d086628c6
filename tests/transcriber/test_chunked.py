"""Chunked and sequential long-form through the service: silence, boundaries,
batching across requests, options from the SDKs, and cancellation."""

from __future__ import annotations

import io
import itertools
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest

from audio.media.decode import decode_audio
from audio.settings import GPU_MAX_BATCH
from transcriber.utterance import TurnPolicy, encoder_frames

from ..helpers import MIT_REFERENCE, SAMPLES, live_server, wait_until, wav_bytes, wer

RATE = 16000


def _transcribe(url: str, data: bytes, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/audio/transcriptions",
        data={"model": "whisper-1", **fields},
        files={"file": ("a.wav", data, "audio/wav")},
        timeout=300,
    )


@pytest.mark.parametrize("algorithm", ["chunked", "sequential"])
@pytest.mark.parametrize("kind", ["silence", "white noise"])
def test_silence_and_noise_give_empty_text(server: str, kind: str, algorithm: str) -> None:
    if kind == "silence":
        audio = np.zeros(RATE * 60, np.float32)
    else:
        audio = (np.random.default_rng(3).standard_normal(RATE * 60) * 0.2).astype(np.float32)
    response = _transcribe(server, wav_bytes(audio), algorithm=algorithm,
                           response_format="verbose_json")  # fmt: skip
    assert response.status_code == 200
    assert response.json()["text"] == ""
    assert response.json()["segments"] == []


def test_word_times_monotone_across_window_boundaries(server: str, shared_samples: Path) -> None:
    client = openai.OpenAI(api_key="x", base_url=f"{server}/v1", max_retries=0)
    with (shared_samples / "multilingual.mp3").open("rb") as f:
        result = client.audio.transcriptions.create(
            file=f, model="whisper-1", response_format="verbose_json", language="en",
            timestamp_granularities=["word", "segment"], extra_body={"algorithm": "chunked"},
        )  # fmt: skip
    words = result.words or []
    assert len(words) > 100
    assert any(w.start < 29.5 for w in words) and any(w.start > 31 for w in words)
    for a, b in itertools.pairwise(words):
        assert a.start <= b.start and a.end <= b.end
    assert all(0 <= w.start <= w.end <= result.duration for w in words)
    segments = result.segments or []
    english = " ".join(s.text for s in segments if s.end <= 31)
    assert wer(MIT_REFERENCE, english) <= 0.10


def test_chunking_strategy_from_the_openai_sdk(server: str) -> None:
    client = openai.OpenAI(api_key="x", base_url=f"{server}/v1", max_retries=0)
    clip = (SAMPLES / "weather_en.mp3").read_bytes()
    result = client.audio.transcriptions.create(
        file=("w.mp3", clip), model="whisper-1",
        chunking_strategy={"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 300,
                           "prefix_padding_ms": 100},
    )  # fmt: skip
    assert "umbrella" in result.text.lower()
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(
            file=("w.mp3", clip), model="whisper-1",
            chunking_strategy={"type": "server_vad", "threshold": 7},
        )  # fmt: skip
    with pytest.raises(openai.BadRequestError):
        client.audio.transcriptions.create(
            file=("w.mp3", clip), model="whisper-1", extra_body={"algorithm": "fastest"}
        )


def test_concurrent_clips_share_batches(make_settings) -> None:  # type: ignore[no-untyped-def]
    clip = (SAMPLES / "hello_en.wav").read_bytes()
    settings = make_settings(stt={"max_batch": 8, "batch_wait_ms": 300})
    with live_server(settings) as (url, app):
        _transcribe(url, clip)  # load the model
        batcher = app.state.stt.chunked_engine("whisper-base").batcher
        runs, batches = batcher.windows_run, batcher.batches_run
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(lambda _: _transcribe(url, clip), range(8)))
        assert all("hello" in r.json()["text"].lower() for r in responses)
        assert batcher.windows_run - runs == 8
        assert batcher.batches_run - batches <= 3  # 8 windows in at most 3 batches


def test_a_lone_clip_on_cpu_is_not_held_for_a_batch_to_fill(make_settings) -> None:  # type: ignore[no-untyped-def]
    """On CPU a short batch is one window by default (a batched beam search costs as much
    as its windows one by one there), so a lone clip never waits `batch_wait_ms` for
    company; on a GPU short requests are batched."""
    settings = make_settings(stt={"batch_wait_ms": 60_000})
    assert settings.stt.short_batch() == 1
    assert settings.stt.model_copy(update={"device": "cuda"}).short_batch() == GPU_MAX_BATCH
    clip = (SAMPLES / "hello_en.wav").read_bytes()
    with live_server(settings) as (url, _app):
        for _ in range(2):  # the first loads the model
            response = httpx.post(
                f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                files={"file": ("a.wav", clip, "audio/wav")}, timeout=45,
            )  # fmt: skip
            assert "hello" in response.json()["text"].lower()


def _long_speech(seconds: float) -> bytes:
    clip = decode_audio(str(SAMPLES / "weather_en.mp3"))
    gap = np.zeros(RATE, np.float32)
    pieces = []
    while sum(p.shape[0] for p in pieces) < seconds * RATE:
        pieces += [clip, gap]
    return wav_bytes(np.concatenate(pieces))


def test_client_disconnect_frees_queued_windows(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(stt={"max_batch": 1, "batch_wait_ms": 0})
    body = _long_speech(300)  # about 11 windows
    with live_server(settings) as (url, app):
        _transcribe(url, (SAMPLES / "hello_en.wav").read_bytes())
        batcher = app.state.stt.chunked_engine("whisper-base").batcher
        before = batcher.windows_run
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                       files={"file": ("long.wav", io.BytesIO(body))}, timeout=3.0)  # fmt: skip
        # the batch already running when the client left may finish; then all is idle
        wait_until(
            lambda: (
                app.state.stt.pool.pending == 0
                and batcher.pending() == 0
                and batcher.running() == 0
            ),
            timeout=60,
        )
        done = batcher.windows_run - before
        assert done < 8  # of about 11 windows: the rest were dropped, never decoded
        assert batcher.windows_cancelled >= 1
        assert batcher.pending() == 0
        assert app.state.stt.pool.pending == 0


def test_a_capped_utterance_stops_at_its_token_limit(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Interim realtime decodes are capped: a decode stops at MIN_TOKENS plus the rate
    times the encoded seconds (a loop cannot run to the model's limit)."""
    from audio.wiring import Services
    from transcriber.types import SttOptions
    from transcriber.utterance import MIN_TOKENS

    services = Services.build(make_settings())
    try:
        engine = services.stt.chunked_engine("whisper-base")
        audio = decode_audio(str(SAMPLES / "weather_en.mp3"))  # 9 s, ~30 words
        options = SttOptions(language="en", beam_size=1, vad_filter=False, algorithm="chunked")
        final = TurnPolicy.of(final=True, beam_size=1)
        whole, _ = engine.submit_utterance(audio, options, final)
        capped_policy = TurnPolicy(1, 600, tokens_per_second=0.5, redo_when_looped=False)
        capped, _ = engine.submit_utterance(audio, options, capped_policy)
        assert len(whole.result(120).tokens) > 25
        frames_seconds = 1800 / 100  # twice the audio, rounded up to the 2-s step
        assert len(capped.result(120).tokens) <= MIN_TOKENS + int(0.5 * frames_seconds)
    finally:
        services.close()


@pytest.mark.parametrize(
    ("seconds", "frames"),
    [(0.5, 1000), (3.0, 1000), (5.0, 1000), (5.1, 1200), (8.0, 1600), (14.0, 2800),
     (15.0, 3000), (26.0, 3000)],
)  # fmt: skip
def test_short_windows_are_encoded_in_twice_their_length(seconds: float, frames: int) -> None:
    """A 3-s clip is encoded in 10 s, not padded to 30 s (a third of the cost)."""
    assert encoder_frames(seconds) == frames


def _threads() -> dict[int, tuple[int, int]]:
    """This process's threads: id -> (nice value, CPU ticks used)."""
    found = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        found[int(tid)] = (int(stat[16]), int(stat[11]) + int(stat[12]))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")
def test_long_files_decode_on_replicas_of_lower_priority(make_settings) -> None:  # type: ignore[no-untyped-def]
    """Long files run on replicas whose threads have a higher nice value (the kernel gives
    the cores to a short request that arrives meanwhile); clips run on the others."""
    from audio.wiring import Services
    from transcriber.types import SttOptions

    own = os.getpriority(os.PRIO_PROCESS, 0)
    settings = make_settings(stt={"background_nice": 7})
    services = Services.build(settings)
    try:
        engine = services.stt.chunked_engine("whisper-base")
        niced = {tid for tid, (nice, _) in _threads().items() if nice == min(19, own + 7)}
        assert len(niced) >= settings.stt.parallel_decoders() + 1  # decoders and solo replica
        options = SttOptions(language="en", vad_filter=False, algorithm="chunked")

        def work_on_niced() -> int:
            return sum(ticks for tid, (_, ticks) in _threads().items() if tid in niced)

        before = work_on_niced()
        clip = decode_audio(str(SAMPLES / "weather_en.mp3"))
        assert "weather" in "".join(s.text for s in engine.stream(clip, options).segments)
        assert work_on_niced() - before <= 2  # ticks of 10 ms: none of the clip's work
        long_audio = decode_audio(io.BytesIO(_long_speech(150)))  # more than max_batch windows
        text = "".join(s.text for s in engine.stream(long_audio, options).segments)
        assert text.lower().count("weather") >= 10
        assert work_on_niced() - before >= 100  # a second of CPU and more: the long file's
    finally:
        services.close()


def test_an_utterance_is_encoded_in_the_frames_it_asks_for(make_settings) -> None:  # type: ignore[no-untyped-def]
    """A realtime turn that looped is decoded once more in a full 30-s window: asking for
    WINDOW_FRAMES must give a full window, not twice the turn's length again."""
    from audio.wiring import Services
    from transcriber.types import SttOptions
    from transcriber.whisper import WINDOW_FRAMES

    services = Services.build(make_settings())
    try:
        engine = services.stt.chunked_engine("whisper-base")
        seen: list[int] = []
        encode = engine.model.encode

        def recording(features, solo=False):  # type: ignore[no-untyped-def]
            seen.append(features.shape[-1])
            return encode(features, solo)

        engine.model.encode = recording  # type: ignore[method-assign]
        audio = decode_audio(str(SAMPLES / "weather_en.mp3"))  # 8.x s
        options = SttOptions(language="en", beam_size=1, vad_filter=False, algorithm="chunked")
        for frames in (None, WINDOW_FRAMES, 1200):
            policy = TurnPolicy.of(final=True, beam_size=1)
            future, _drop = engine.submit_utterance(audio, options, policy, frames)
            assert "weather" in future.result(120).text.lower()
        assert seen == [encoder_frames(audio.shape[0] / RATE), WINDOW_FRAMES, 1200]
    finally:
        services.close()
