"""The OpenAI Agents SDK's voice pipeline against this server, with its default models.

    pip install 'openai-agents[voice]'
    make serve            # in another terminal
    python examples/agents_sdk_voice.py speech.wav

Only the client is pointed at the server: the pipeline keeps its default models
(`gpt-transcribe` for speech-to-text, `gpt-4o-mini-tts` for speech), which the server
serves with its own Whisper and voices. The workflow here echoes what it heard; put
your agent (and an LLM you can reach) in its place.
"""

from __future__ import annotations

import asyncio
import sys
import wave
from collections.abc import AsyncIterator

import numpy as np
from agents.voice import (
    AudioInput,
    OpenAIVoiceModelProvider,
    VoicePipeline,
    VoicePipelineConfig,
    VoiceWorkflowBase,
)
from openai import AsyncOpenAI


class Echo(VoiceWorkflowBase):
    async def run(self, transcription: str) -> AsyncIterator[str]:
        yield f"You said: {transcription}"


async def main(path: str) -> None:
    client = AsyncOpenAI(base_url="http://127.0.0.1:8000/v1", api_key="any")
    config = VoicePipelineConfig(model_provider=OpenAIVoiceModelProvider(openai_client=client),
                                 tracing_disabled=True)  # fmt: skip
    with wave.open(path) as w:  # 24-kHz mono 16-bit, as the SDK expects
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    result = await VoicePipeline(workflow=Echo(), config=config).run(AudioInput(buffer=audio))
    spoken = []
    async for event in result.stream():
        if event.type == "voice_stream_event_audio" and event.data is not None:
            spoken.append(event.data)
    print(f"{sum(len(a) for a in spoken) / 24000:.1f} s of speech received")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
