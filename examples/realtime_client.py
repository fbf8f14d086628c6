"""Stream a WAV file to the realtime endpoint at real speed with the openai SDK and print
the interim (delta) and final text of each turn.

    make serve            # in another terminal
    .venv/bin/python examples/realtime_client.py ../shared/samples/jfk.flac

Any audio file FFmpeg reads works; it is resampled to 24-kHz pcm16 here.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time

import av
import numpy as np
from openai import AsyncOpenAI

BASE_URL = "http://127.0.0.1:8000/v1"
RATE = 24_000
FRAME_SECONDS = 0.04


def pcm16(path: str) -> bytes:
    """The file as mono 16-bit PCM at 24 kHz, plus a second of silence to end the turn."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
    chunks = []
    with av.open(path) as container:
        for frame in container.decode(audio=0):
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate([*chunks, np.zeros(RATE, np.int16)]).astype("<i2").tobytes()


async def main(path: str) -> None:
    audio = pcm16(path)
    client = AsyncOpenAI(base_url=BASE_URL, api_key="any-key-unless-SPEECH_API_KEYS-is-set")
    async with client.realtime.connect(
        model="whisper-1", extra_query={"intent": "transcription"}
    ) as connection:
        await connection.session.update(session={
            "type": "transcription",
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": RATE},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
            }},
        })  # fmt: skip

        async def send() -> None:
            step = int(RATE * FRAME_SECONDS) * 2
            start = time.monotonic()
            for offset in range(0, len(audio), step):
                chunk = base64.b64encode(audio[offset : offset + step]).decode()
                await connection.input_audio_buffer.append(audio=chunk)
                await asyncio.sleep(max(0, start + (offset + step) / 2 / RATE - time.monotonic()))

        sender = asyncio.create_task(send())
        committed = completed = 0
        while not (sender.done() and completed == committed):
            try:
                event = await asyncio.wait_for(connection.recv(), timeout=0.5)
            except TimeoutError:
                continue  # the last turn may be answered before the audio ends
            if event.type == "conversation.item.input_audio_transcription.delta":
                print(event.delta, end="", flush=True)
            elif event.type == "input_audio_buffer.committed":
                committed += 1
            elif event.type == "conversation.item.input_audio_transcription.completed":
                completed += 1
                print(f"\n[final] {event.transcript}")
            elif event.type == "error":
                print(f"\n[error] {event.error.message}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "samples/hello_en.wav"))
