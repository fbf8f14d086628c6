"""The OpenAI Agents SDK's voice pipeline (`openai-agents[voice]`) against the server,
built as its docs show, with its default models and settings: only the client's
`base_url` and `api_key` are ours. Single turn (AudioInput) and streamed
(StreamedAudioInput at real speed, the SDK's default `semantic_vad`), each spoken reply
read back through the server's own STT."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from ..helpers import JFK_REFERENCE, REFERENCES, SAMPLES, live_server, pcm16, wav_bytes, wer

voice = pytest.importorskip("agents.voice", reason="openai-agents[voice] is not installed")

pytestmark = pytest.mark.slow

RATE = 24000
"""What the SDK sends and receives."""
TURNS = ("hello_en.wav", "weather_en.mp3")


class Echo(voice.VoiceWorkflowBase):  # type: ignore[misc]
    """Says back what it heard (no LLM needed), and remembers each turn's text."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    async def run(self, transcription: str) -> AsyncIterator[str]:
        self.heard.append(transcription)
        yield f"You said: {transcription}"


@pytest.fixture(scope="module")
def url(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(make_settings()) as (base, _app):
        yield base


def _pipeline(url: str, workflow: Echo) -> object:
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x")
    config = voice.VoicePipelineConfig(
        model_provider=voice.OpenAIVoiceModelProvider(openai_client=client),
        tracing_disabled=True,
    )
    return voice.VoicePipeline(workflow=workflow, config=config)


async def _collect(result: object) -> tuple[list[np.ndarray], list[str]]:
    """The audio of each turn, and the lifecycle events, in order."""
    turns: list[list[np.ndarray]] = [[]]
    lifecycle: list[str] = []
    async for event in result.stream():  # type: ignore[attr-defined]
        if event.type == "voice_stream_event_audio" and event.data is not None:
            turns[-1].append(np.asarray(event.data).reshape(-1))
        elif event.type == "voice_stream_event_lifecycle":
            lifecycle.append(event.event)
            if event.event == "turn_ended":
                turns.append([])
        elif event.type == "voice_stream_event_error":
            raise AssertionError(f"the pipeline failed: {event.error!r}")
    return [np.concatenate(t) for t in turns if t], lifecycle


def _read_back(url: str, audio: np.ndarray) -> str:
    body = wav_bytes(audio.astype(np.float32) / 32768, RATE)
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    return client.audio.transcriptions.create(
        model="whisper-1", file=("reply.wav", body), language="en"
    ).text


def _int16(path: Path, tail_seconds: float = 0.0) -> np.ndarray:
    return np.frombuffer(pcm16(path, RATE, tail_seconds), "<i2")


def test_single_turn_with_the_default_models(url: str, shared_samples: Path) -> None:
    workflow = Echo()

    async def run() -> tuple[list[np.ndarray], list[str]]:
        audio = voice.AudioInput(buffer=_int16(shared_samples / "jfk.flac"))
        return await _collect(await _pipeline(url, workflow).run(audio))  # type: ignore[attr-defined]

    turns, lifecycle = asyncio.run(run())
    assert len(workflow.heard) == 1 and wer(JFK_REFERENCE, workflow.heard[0]) <= 0.15
    assert lifecycle[-1] == "session_ended" and len(turns) == 1
    reply = _read_back(url, turns[0])
    assert wer(f"You said: {workflow.heard[0]}", reply) <= 0.2, reply


def test_streamed_turns_at_real_speed_with_semantic_vad(url: str) -> None:
    workflow = Echo()
    frame = RATE // 10  # 100 ms, as a microphone delivers it

    async def run() -> tuple[list[np.ndarray], list[str]]:
        streamed = voice.StreamedAudioInput()
        result = await _pipeline(url, workflow).run(streamed)  # type: ignore[attr-defined]
        collecting = asyncio.create_task(_collect(result))
        for name in TURNS:
            audio = _int16(SAMPLES / name, tail_seconds=2.0)
            for start in range(0, audio.shape[0], frame):
                await streamed.add_audio(audio[start : start + frame])
                await asyncio.sleep(0.1)
        await asyncio.sleep(3.0)  # the last turn's text and speech
        await streamed.add_audio(None)
        return await asyncio.wait_for(collecting, timeout=120)

    turns, lifecycle = asyncio.run(run())
    assert len(workflow.heard) >= 2, workflow.heard
    heard = " ".join(workflow.heard)
    expected = " ".join(REFERENCES[name]["text"] for name in TURNS)
    assert wer(expected, heard) <= 0.2, heard
    assert lifecycle.count("turn_ended") >= 2 and lifecycle[-1] == "session_ended"
    assert len(turns) >= 2
    reply = _read_back(url, np.concatenate(turns))
    assert "you said" in reply.lower(), reply
