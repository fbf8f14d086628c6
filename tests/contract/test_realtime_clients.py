"""Realtime transcription with the clients voice agents use, against the live server.

Each streams ../shared/samples/jfk.flac at real speed (then a second of silence) and
must get interim text (deltas) while it is spoken and final text at WER <= 10%.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from ..helpers import JFK_REFERENCE, pcm16, wer

pytestmark = pytest.mark.slow

FRAME_MS = 40
TAIL_SECONDS = 1.5


def jfk_pcm(shared: Path, rate: int) -> bytes:
    """jfk.flac as 16-bit mono PCM at `rate`, plus a second and a half of silence."""
    return pcm16(shared / "jfk.flac", rate, TAIL_SECONDS)


async def paced(pcm: bytes, rate: int, frame_ms: int = FRAME_MS) -> AsyncIterator[bytes]:
    """The PCM in frames, each when real time says it is due."""
    step = rate * frame_ms // 1000 * 2
    start = time.monotonic()
    for offset in range(0, len(pcm), step):
        yield pcm[offset : offset + step]
        due = start + (offset + step) / 2 / rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))


def ws_url(server: str) -> str:
    return server.replace("http://", "ws://", 1)


def check(finals: list[str], deltas: list[str]) -> None:
    assert deltas, "no interim text while speaking"
    assert wer(JFK_REFERENCE, " ".join(finals)) <= 0.10, finals


async def settled(count: Callable[[], int], quiet: float = 2.5, timeout: float = 15) -> None:
    """Wait until `count()` is above 0 and has not changed for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = count(), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if count() != last:
            last, since = count(), time.monotonic()
        elif last and time.monotonic() - since >= quiet:
            return


def test_openai_sdk_realtime_client(server: str, shared_samples: Path) -> None:
    from openai import AsyncOpenAI

    pcm = jfk_pcm(shared_samples, 24000)

    async def run() -> tuple[list[str], list[str], list[str]]:
        client = AsyncOpenAI(base_url=f"{server}/v1", api_key="x")
        finals: list[str] = []
        deltas: list[str] = []
        kinds: list[str] = []
        async with client.realtime.connect(
            model="whisper-1", extra_query={"intent": "transcription"}
        ) as conn:
            await conn.send({
                "type": "session.update",
                "session": {"type": "transcription", "audio": {"input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "whisper-1", "language": "en"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
                }}},
            })  # fmt: skip

            async def send() -> None:
                async for chunk in paced(pcm, 24000):
                    await conn.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())

            sender = asyncio.create_task(send())
            while not (
                sender.done() and kinds.count("input_audio_buffer.committed") == len(finals)
            ):
                try:
                    event = await asyncio.wait_for(conn.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                kinds.append(event.type)
                if event.type == "conversation.item.input_audio_transcription.delta":
                    deltas.append(event.delta or "")
                elif event.type == "conversation.item.input_audio_transcription.completed":
                    finals.append(event.transcript)
                    assert event.usage.type == "duration"
            await sender
        return finals, deltas, kinds

    finals, deltas, kinds = asyncio.run(run())
    check(finals, deltas)
    assert kinds[0] == "session.created" and "session.updated" in kinds
    assert kinds.count("input_audio_buffer.speech_started") == len(finals)


def test_livekit_realtime_stt_stream(server: str, shared_samples: Path) -> None:
    import aiohttp
    from livekit import rtc
    from livekit.agents import stt as agents_stt
    from livekit.plugins import openai as livekit_openai

    pcm = jfk_pcm(shared_samples, 48000)

    async def run() -> tuple[list[str], list[str]]:
        finals: list[str] = []
        interims: list[str] = []
        async with aiohttp.ClientSession() as session:
            stt = livekit_openai.STT(
                use_realtime=True, base_url=f"{server}/v1", api_key="x", model="whisper-1",
                language="en",
            )  # fmt: skip
            stt._session = session  # a job context provides it in an agent
            stream = stt.stream()

            async def collect() -> None:
                async for event in stream:
                    if event.type == agents_stt.SpeechEventType.INTERIM_TRANSCRIPT:
                        interims.append(event.alternatives[0].text)
                    elif event.type == agents_stt.SpeechEventType.FINAL_TRANSCRIPT:
                        finals.append(event.alternatives[0].text)

            collector = asyncio.create_task(collect())
            async for chunk in paced(pcm, 48000, 20):
                stream.push_frame(rtc.AudioFrame(chunk, 48000, 1, len(chunk) // 2))
            await settled(lambda: len(finals))
            stream.end_input()
            collector.cancel()
            await stream.aclose()
            await stt.aclose()
        return finals, interims

    finals, interims = asyncio.run(run())
    check(finals, interims)


@pytest.mark.parametrize("server_vad", [False, True], ids=["pipecat-vad", "server-vad"])
def test_pipecat_realtime_stt(server: str, shared_samples: Path, server_vad: bool) -> None:
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import (
        EndFrame,
        Frame,
        InputAudioRawFrame,
        InterimTranscriptionFrame,
        TranscriptionFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineParams, PipelineTask
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.services.openai.stt import OpenAIRealtimeSTTService
    from pipecat.transcriptions.language import Language

    pcm = jfk_pcm(shared_samples, 16000)
    finals: list[str] = []
    interims: list[str] = []

    class Collect(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TranscriptionFrame):
                finals.append(frame.text)
            elif isinstance(frame, InterimTranscriptionFrame):
                interims.append(frame.text)
            await self.push_frame(frame, direction)

    async def run() -> None:
        stt = OpenAIRealtimeSTTService(
            api_key="x", base_url=f"{ws_url(server)}/v1/realtime",
            settings=OpenAIRealtimeSTTService.Settings(model="whisper-1", language=Language.EN),
            turn_detection={"type": "server_vad"} if server_vad else False,
        )  # fmt: skip
        stages: list[FrameProcessor] = [stt, Collect()]
        if not server_vad:
            stages.insert(0, VADProcessor(vad_analyzer=SileroVADAnalyzer()))
        task = PipelineTask(
            Pipeline(stages), params=PipelineParams(audio_in_sample_rate=16000),
            enable_rtvi=False,
        )  # fmt: skip

        async def feed() -> None:
            await asyncio.sleep(0.5)  # the session is configured on session.created
            async for chunk in paced(pcm, 16000, 20):
                await task.queue_frame(InputAudioRawFrame(chunk, 16000, 1))
            await settled(lambda: len(finals))
            await task.queue_frame(EndFrame())

        await asyncio.gather(PipelineRunner(handle_sigint=False).run(task), feed())

    asyncio.run(asyncio.wait_for(run(), 60))
    check(finals, interims)


async def _beta_session(server: str, pcm: bytes) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with websockets.connect(
        f"{ws_url(server)}/openai/v1/realtime?intent=transcription",
        additional_headers={"Authorization": "Bearer x", "OpenAI-Beta": "realtime=v1"},
    ) as ws:
        await ws.send(json.dumps({
            "type": "transcription_session.update",
            "session": {
                "input_audio_format": "g711_ulaw",
                "input_audio_transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": None,
            },
        }))  # fmt: skip

        async def send() -> None:
            async for chunk in paced(pcm, 8000, 20):
                audio = base64.b64encode(_mulaw(chunk)).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
            await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))

        sender = asyncio.create_task(send())
        async for message in ws:
            event = json.loads(message)
            events.append(event)
            if event["type"].endswith(".completed") or event["type"].endswith(".failed"):
                break
        await sender
    return events


def _mulaw(pcm16: bytes) -> bytes:
    """G.711 mu-law encoding (FFmpeg's), for the test's 8-kHz telephone audio."""
    import av

    codec = av.CodecContext.create("pcm_mulaw", "w")
    codec.sample_rate, codec.layout, codec.format = 8000, "mono", "s16"
    frame = av.AudioFrame.from_ndarray(
        np.frombuffer(pcm16, "<i2").reshape(1, -1), format="s16", layout="mono"
    )
    frame.sample_rate = 8000
    return b"".join(bytes(p) for p in codec.encode(frame))


def test_beta_shape_with_client_commits_and_g711(server: str, shared_samples: Path) -> None:
    events = asyncio.run(_beta_session(server, jfk_pcm(shared_samples, 8000)))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "transcription_session.created"
    updated = events[kinds.index("transcription_session.updated")]["session"]
    assert updated["input_audio_format"] == "g711_ulaw" and updated["turn_detection"] is None
    assert "input_audio_buffer.speech_started" not in kinds  # the client commits
    committed = events[kinds.index("input_audio_buffer.committed")]
    completed = events[-1]
    assert completed["type"] == "conversation.item.input_audio_transcription.completed"
    assert completed["item_id"] == committed["item_id"]
    assert "conversation.item.input_audio_transcription.delta" in kinds
    assert all("event_id" in e for e in events)
    assert wer(JFK_REFERENCE, completed["transcript"]) <= 0.10
