"""LiveKit Agents and Pipecat pointed at the live server: what each hands its pipeline."""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import Iterator

import numpy as np
import pytest

from ..helpers import REFERENCES, SAMPLES, live_server, wer

livekit_groq = pytest.importorskip("livekit.plugins.groq", reason="livekit-plugins-groq")
pipecat_groq_stt = pytest.importorskip("pipecat.services.groq.stt", reason="pipecat-ai[groq]")

CLIP = SAMPLES / "hello_en.wav"
REFERENCE = REFERENCES["hello_en.wav"]["text"]
SENTENCE = "Hello from the voice agent test."


@pytest.fixture(scope="module")
def url(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(make_settings()) as (base, _app):
        yield base


def _frames() -> tuple[bytes, int]:
    with wave.open(str(CLIP)) as w:
        return w.readframes(w.getnframes()), w.getframerate()


def test_livekit_groq_stt_recognize(url: str) -> None:
    from livekit import rtc

    pcm, rate = _frames()
    frame = rtc.AudioFrame(pcm, rate, 1, len(pcm) // 2)

    async def run() -> str:
        stt = livekit_groq.STT(api_key="x", base_url=f"{url}/openai/v1", language="en")
        event = await stt.recognize(frame)
        await stt.aclose()
        return str(event.alternatives[0].text)

    assert wer(REFERENCE, asyncio.run(run())) <= 0.1


@pytest.mark.parametrize(
    ("model", "voice"),
    [("playai-tts", "Fritz-PlayAI"), ("canopylabs/orpheus-v1-english", "autumn")],
)
def test_livekit_groq_tts_synthesize(url: str, model: str, voice: str) -> None:
    import aiohttp

    async def run() -> list[object]:
        async with aiohttp.ClientSession() as session:
            tts = livekit_groq.TTS(base_url=f"{url}/openai/v1", model=model, voice=voice,
                                   api_key="x", http_session=session)  # fmt: skip
            frames = [ev.frame async for ev in tts.synthesize(SENTENCE)]
            await tts.aclose()
            return frames

    frames = asyncio.run(run())
    assert frames
    rate = frames[0].sample_rate  # type: ignore[attr-defined]
    samples = sum(f.samples_per_channel for f in frames)  # type: ignore[attr-defined]
    assert 1.0 < samples / rate < 5.0


def test_pipecat_groq_stt_run_stt(url: str) -> None:
    from pipecat.frames.frames import TranscriptionFrame

    pcm, rate = _frames()

    async def run() -> list[object]:
        service = pipecat_groq_stt.GroqSTTService(api_key="x", base_url=f"{url}/openai/v1")
        service._sample_rate = rate  # set by the pipeline's StartFrame in a real run
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
        return [frame async for frame in service.run_stt(buffer.getvalue())]  # WAV, as
        # pipecat's SegmentedSTTService hands it over

    frames = asyncio.run(run())
    texts = [f.text for f in frames if isinstance(f, TranscriptionFrame)]
    assert texts, frames
    assert texts and wer(REFERENCE, " ".join(texts)) <= 0.1


def test_pipecat_groq_tts_run_tts(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_BASE_URL", url)
    from pipecat.frames.frames import TTSAudioRawFrame
    from pipecat.services.groq.tts import GroqTTSService

    async def run() -> list[object]:
        service = GroqTTSService(api_key="x", model_name="playai-tts", voice_id="Celeste-PlayAI")
        return [frame async for frame in service.run_tts(SENTENCE, "ctx-1")]

    frames = [f for f in asyncio.run(run()) if isinstance(f, TTSAudioRawFrame)]
    assert frames
    audio = np.frombuffer(b"".join(f.audio for f in frames), "<i2")
    assert frames[0].sample_rate == 24000 and 1.0 < audio.shape[0] / 24000 < 5.0


def test_livekit_openai_stt_and_tts(url: str) -> None:
    from livekit import rtc
    from livekit.plugins import openai as livekit_openai

    pcm, rate = _frames()
    frame = rtc.AudioFrame(pcm, rate, 1, len(pcm) // 2)

    async def run() -> tuple[str, list[object]]:
        stt = livekit_openai.STT(model="whisper-1", base_url=f"{url}/v1", api_key="x",
                                 use_realtime=False)  # fmt: skip
        text = (await stt.recognize(frame)).alternatives[0].text
        tts = livekit_openai.TTS(model="tts-1", voice="ash", base_url=f"{url}/v1", api_key="x")
        frames = [ev.frame async for ev in tts.synthesize(SENTENCE)]
        await stt.aclose()
        await tts.aclose()
        return str(text), frames

    text, frames = asyncio.run(run())
    assert wer(REFERENCE, text) <= 0.1
    seconds = sum(f.samples_per_channel / f.sample_rate for f in frames)  # type: ignore[attr-defined]
    assert frames and 1.0 < seconds < 5.0


def test_pipecat_openai_stt_and_tts_pcm_24k(url: str) -> None:
    from pipecat.frames.frames import TranscriptionFrame, TTSAudioRawFrame
    from pipecat.services.openai.stt import OpenAISTTService
    from pipecat.services.openai.tts import OpenAITTSService

    with CLIP.open("rb") as f:
        wav = f.read()

    async def run() -> tuple[list[object], list[object]]:
        stt = OpenAISTTService(api_key="x", base_url=f"{url}/v1", model="whisper-1")
        stt_frames = [frame async for frame in stt.run_stt(wav)]
        tts = OpenAITTSService(api_key="x", base_url=f"{url}/v1", model="tts-1", voice="nova",
                               sample_rate=24000)  # fmt: skip
        tts._sample_rate = 24000  # set by the pipeline's StartFrame in a real run
        tts_frames = [frame async for frame in tts.run_tts(SENTENCE, "ctx-2")]
        return stt_frames, tts_frames

    stt_frames, tts_frames = asyncio.run(run())
    texts = [f.text for f in stt_frames if isinstance(f, TranscriptionFrame)]
    assert texts and wer(REFERENCE, texts[0]) <= 0.1, stt_frames
    audio = [f for f in tts_frames if isinstance(f, TTSAudioRawFrame)]
    assert audio, tts_frames
    total = sum(len(f.audio) for f in audio) / 2 / 24000
    assert audio[0].sample_rate == 24000 and 1.0 < total < 5.0
