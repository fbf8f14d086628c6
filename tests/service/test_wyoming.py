"""Home Assistant's Wyoming protocol, with the real `wyoming` client library (the code
Home Assistant's integration uses) against a `speech-pipeline serve` process on
loopback: describe, transcribe (streamed), synthesize (and streamed synthesis), bad
input, ten clients at once, and the loopback-only bind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from audio.media.decode import decode_audio
from bench.server import free_port
from bench.stt import server_process

from ..helpers import JFK_REFERENCE, SAMPLES, run_cli, wav_bytes, wer

pytestmark = pytest.mark.slow

RATE = 16000
HELLO = SAMPLES / "hello_en.wav"


@pytest.fixture(scope="module")
def served(cache_dir: Path, hub_cache: Path) -> Iterator[tuple[str, int]]:
    """(the HTTP base URL, the Wyoming port)."""
    port = free_port()
    env = {
        "SPEECH_WYOMING__URI": f"tcp://127.0.0.1:{port}", "SPEECH_WARMUP": "false",
        "SPEECH_STT__CACHE_DIR": str(cache_dir), "SPEECH_STT__HUB_CACHE_DIR": str(hub_cache),
        "SPEECH_STT__FALLBACK_MODEL": "whisper-base",
    }  # fmt: skip
    with server_process(env) as (url, _process):
        yield url, port


def pcm16(path: Path) -> bytes:
    samples = decode_audio(str(path))
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


async def _events_until(client: AsyncTcpClient, last: str, limit: int = 2000) -> list[Event]:
    events: list[Event] = []
    for _ in range(limit):
        event = await asyncio.wait_for(client.read_event(), timeout=300)
        assert event is not None, [e.type for e in events]
        events.append(event)
        if event.type in (last, "error"):
            return events
    raise AssertionError("no end event")


async def _transcribe(port: int, audio: bytes, model: str = "whisper-1") -> list[Event]:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(name=model, language="en").event())
        await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        step = RATE // 10 * 2  # 100-ms chunks, as a satellite sends them
        for offset in range(0, len(audio), step):
            piece = audio[offset : offset + step]
            await client.write_event(
                AudioChunk(rate=RATE, width=2, channels=1, audio=piece).event()
            )
        await client.write_event(AudioStop().event())
        return await _events_until(client, "transcript")


def _speech(events: list[Event]) -> tuple[np.ndarray, int]:
    starts = [AudioStart.from_event(e) for e in events if AudioStart.is_type(e.type)]
    chunks = [AudioChunk.from_event(e).audio for e in events if AudioChunk.is_type(e.type)]
    assert starts and chunks, [e.type for e in events]
    return np.frombuffer(b"".join(chunks), "<i2").astype(np.float32) / 32768, starts[0].rate


def _heard(url: str, samples: np.ndarray, rate: int) -> str:
    body = wav_bytes(samples, rate)
    response = httpx.post(f"{url}/v1/audio/transcriptions", timeout=120,
                          data={"model": "whisper-1", "language": "en"},
                          files={"file": ("speech.wav", body)})  # fmt: skip
    response.raise_for_status()
    return str(response.json()["text"])


def test_describe_lists_the_models_and_the_voices(served: tuple[str, int]) -> None:
    async def run() -> Info:
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            await client.write_event(Describe().event())
            event = await client.read_event()
            assert event is not None
            return Info.from_event(event)

    info = asyncio.run(run())
    (asr,) = info.asr
    assert asr.supports_transcript_streaming
    models = {m.name: m for m in asr.models}
    assert {"whisper-1", "whisper-base"} <= set(models) and "en" in models["whisper-base"].languages
    assert models["whisper-base"].installed
    (tts,) = info.tts
    assert tts.supports_synthesize_streaming
    voices = {v.name: v for v in tts.voices}
    assert len(voices) == 23 + 28 and voices["Ahmad-PlayAI"].languages == ["ar"]
    assert "af_heart" in voices and "Deedee-PlayAI" in voices


def test_transcribe_a_real_speech_stream(served: tuple[str, int], shared_samples: Path) -> None:
    events = asyncio.run(_transcribe(served[1], pcm16(shared_samples / "jfk.flac")))
    kinds = [e.type for e in events]
    assert kinds[0] == "transcript-start" and kinds[-2:] == ["transcript-stop", "transcript"]
    assert "transcript-chunk" in kinds
    text = Transcript.from_event(events[-1]).text
    assert wer(JFK_REFERENCE, text) <= 0.10, text


def test_synthesize_and_read_it_back(served: tuple[str, int]) -> None:
    said = "Please call me back this afternoon. The meeting is still on."

    async def run() -> list[Event]:
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            await client.write_event(
                Synthesize(text=said, voice=SynthesizeVoice(name="Fritz-PlayAI")).event()
            )
            return await _events_until(client, "audio-stop")

    samples, rate = _speech(asyncio.run(run()))
    assert wer(said, _heard(served[0], samples, rate)) <= 0.15


def test_streaming_synthesis_speaks_each_sentence_as_it_is_complete(
    served: tuple[str, int],
) -> None:
    async def run() -> tuple[list[Event], list[Event]]:
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            voice = SynthesizeVoice(name="Celeste-PlayAI")
            await client.write_event(SynthesizeStart(voice=voice).event())
            for piece in (
                "Hello there, this is ",
                "the first sentence. And this is",
                " the second.",
            ):
                await client.write_event(SynthesizeChunk(text=piece).event())
            early = await _events_until(client, "audio-stop")  # the first sentence, before the stop
            # a streaming client also sends the whole text for older servers (before its
            # stop, as the protocol says): not spoken twice
            whole = "Hello there, this is the first sentence. And this is the second."
            await client.write_event(Synthesize(text=whole, voice=voice).event())
            await client.write_event(SynthesizeStop().event())
            rest = await _events_until(client, "synthesize-stopped")
            await client.write_event(Describe().event())
            after = await client.read_event()
            assert after is not None and after.type == "info"
            return early, rest

    early, rest = asyncio.run(run())
    first, _ = _speech(early)
    second, _ = _speech(rest)
    assert first.shape[0] / 24000 > 0.5 and second.shape[0] / 24000 > 0.5
    assert [e.type for e in rest].count("audio-start") == 1


def test_bad_input_is_an_error_event_and_the_connection_goes_on(served: tuple[str, int]) -> None:
    async def run() -> list[Any]:
        errors = []
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            bad = [
                Event(type="no-such-event"),
                AudioChunk(rate=RATE, width=2, channels=1, audio=b"\0\0" * 10).event(),
                Synthesize(text="Hello.", voice=SynthesizeVoice(name="Nobody-PlayAI")).event(),
                AudioChunk(rate=RATE, width=2, channels=1, audio=b"\0" * (2 << 20)).event(),
            ]
            for event in bad:
                await client.write_event(event)
                reply = await asyncio.wait_for(client.read_event(), timeout=60)
                assert reply is not None and Error.is_type(reply.type), reply
                errors.append(Error.from_event(reply))
            await client.write_event(Transcribe(name="whisper-1").event())
            await client.write_event(AudioStart(rate=RATE, width=1, channels=1).event())
            reply = await asyncio.wait_for(client.read_event(), timeout=60)
            assert reply is not None and Error.is_type(reply.type)
            errors.append(Error.from_event(reply))
            await client.write_event(Describe().event())  # still answered
            info = await client.read_event()
            assert info is not None and info.type == "info"
        return errors

    codes = [e.code for e in asyncio.run(run())]
    assert codes == ["unknown_event", "no_audio_start", "unknown_voice", "payload_too_large",
                     "unsupported_audio"]  # fmt: skip


def test_ten_clients_at_once(served: tuple[str, int]) -> None:
    audio = pcm16(HELLO)

    async def run() -> list[list[Event]]:
        return await asyncio.gather(*(_transcribe(served[1], audio) for _ in range(10)))

    for events in asyncio.run(run()):
        assert "hello" in Transcript.from_event(events[-1]).text.lower()


def test_a_non_loopback_bind_is_refused_unless_allowed() -> None:
    done = run_cli("serve", "--wyoming", "tcp://0.0.0.0:10300", timeout=120)
    assert done.returncode == 2
    assert "loopback" in done.stderr and "SPEECH_WYOMING__ALLOW_REMOTE" in done.stderr
