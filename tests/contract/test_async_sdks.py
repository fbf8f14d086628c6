"""The async clients of both SDKs: transcription, translation, speech, errors, SSE."""

from __future__ import annotations

import asyncio
import io
import wave

import groq
import openai
import pytest

from ..helpers import REFERENCES, SAMPLES, wer

CLIP = (SAMPLES / "hello_en.wav").read_bytes()
REFERENCE = REFERENCES["hello_en.wav"]["text"]


def test_async_openai(server: str) -> None:
    async def run() -> None:
        client = openai.AsyncOpenAI(api_key="x", base_url=f"{server}/v1", max_retries=0)
        text = (
            await client.audio.transcriptions.create(file=("a.wav", CLIP), model="whisper-1")
        ).text
        assert wer(REFERENCE, text) <= 0.1
        stream = await client.audio.transcriptions.create(
            file=("a.wav", CLIP), model="whisper-1", stream=True
        )
        events = [event async for event in stream]
        assert events[-1].type == "transcript.text.done"
        speech = await client.audio.speech.create(model="tts-1", voice="alloy", input="Hi there.")
        with wave.open(io.BytesIO(speech.read())) as w:
            assert w.getframerate() == 24000
        with pytest.raises(openai.NotFoundError):
            await client.audio.transcriptions.create(file=("a.wav", CLIP), model="nope")
        await client.close()

    asyncio.run(run())


def test_async_groq(server: str) -> None:
    async def run() -> None:
        client = groq.AsyncGroq(api_key="x", base_url=server, max_retries=0)
        result = await client.audio.transcriptions.create(
            file=("a.wav", CLIP), model="whisper-large-v3-turbo", response_format="verbose_json",
            timestamp_granularities=["word"],
        )  # fmt: skip
        assert wer(REFERENCE, result.text) <= 0.1 and (result.model_extra or {})["words"]
        translated = await client.audio.translations.create(
            file=("de.mp3", (SAMPLES / "speech_de.mp3").read_bytes()), model="whisper-large-v3"
        )
        assert "good morning" in translated.text.lower()
        speech = await client.audio.speech.create(
            model="playai-tts-arabic", voice="Nasser-PlayAI", input="مرحبا"
        )
        with wave.open(io.BytesIO(await speech.read())) as w:
            assert w.getnframes() > 0
        with pytest.raises(groq.BadRequestError):
            await client.audio.speech.create(model="playai-tts", voice="Amira-PlayAI", input="Hi")
        await client.close()

    asyncio.run(run())
