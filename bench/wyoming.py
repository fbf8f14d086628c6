"""`speech-pipeline bench wyoming`: Home Assistant's path beside HTTP, in one run.

Transcription: a clip streamed as Wyoming audio chunks (100 ms each, as fast as the
socket takes them), timed from `audio-stop` to `transcript`; the control is the same
clip POSTed as a WAV to /v1/audio/transcriptions, timed from the request to the answer.
Synthesis: `synthesize` timed to the first `audio-chunk`; the control is a streamed
HTTP speech request (pcm) timed to its first byte. Same server, same voice, same text.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import time
import wave

import httpx
import numpy as np
from wyoming.asr import Transcribe
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice

from audio.media.decode import decode_audio
from audio.settings import Settings, WyomingSettings
from bench.report import ROOT, heading, publish
from bench.server import free_port, serving

ROUNDS = 10
CLIP = ROOT / "samples" / "weather_en.mp3"
TEXT = "Sure, I can help with that. The kitchen lights are now off."
VOICE = "Fritz-PlayAI"
RATE = 16000


async def _wyoming_transcribe(port: int, pcm: bytes) -> float:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(name="whisper-1", language="en").event())
        await client.write_event(AudioStart(rate=RATE, width=2, channels=1).event())
        for offset in range(0, len(pcm), RATE // 10 * 2):
            chunk = pcm[offset : offset + RATE // 10 * 2]
            await client.write_event(
                AudioChunk(rate=RATE, width=2, channels=1, audio=chunk).event()
            )
        started = time.perf_counter()
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None and event.type != "transcript":
            pass
        return time.perf_counter() - started


async def _wyoming_first_audio(port: int) -> float:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        started = time.perf_counter()
        await client.write_event(Synthesize(text=TEXT, voice=SynthesizeVoice(name=VOICE)).event())
        while (event := await client.read_event()) is not None and event.type != "audio-chunk":
            pass
        first = time.perf_counter() - started
        while (event := await client.read_event()) is not None and event.type != "audio-stop":
            pass
        return first


def _ratio(times: dict[str, list[float]], kind: str) -> float:
    return statistics.median(times[f"wy_{kind}"]) / statistics.median(times[f"http_{kind}"])


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) * 1000


def run_wyoming_bench(settings: Settings, args: argparse.Namespace) -> int:
    port = free_port()
    wyoming = WyomingSettings(uri=f"tcp://127.0.0.1:{port}")
    settings = settings.model_copy(update={"wyoming": wyoming, "warmup": True})
    samples = decode_audio(str(CLIP))
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    wav = io.BytesIO()
    with wave.open(wav, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(pcm)
    times: dict[str, list[float]] = {"wy_stt": [], "http_stt": [], "wy_tts": [], "http_tts": []}
    with serving(settings) as url, httpx.Client(base_url=url, timeout=300) as client:
        for index in range(ROUNDS + 1):
            wy_stt = asyncio.run(_wyoming_transcribe(port, pcm))
            started = time.perf_counter()
            client.post("/v1/audio/transcriptions", data={"model": "whisper-1", "language": "en"},
                        files={"file": ("c.wav", wav.getvalue())}).raise_for_status()  # fmt: skip
            http_stt = time.perf_counter() - started
            wy_tts = asyncio.run(_wyoming_first_audio(port))
            started = time.perf_counter()
            body = {"model": "tts-1", "voice": VOICE, "input": TEXT, "response_format": "pcm"}
            with client.stream("POST", "/v1/audio/speech", json=body) as response:
                chunks = response.iter_raw()
                next(chunks)
                http_tts = time.perf_counter() - started
                for _rest in chunks:
                    pass
            if index:  # the first round warms the voice and the model
                for key, value in zip(times, (wy_stt, http_stt, wy_tts, http_tts), strict=True):
                    times[key].append(value)
    lines = heading("Wyoming beside HTTP")
    seconds = samples.shape[0] / RATE
    lines += [
        f"{ROUNDS} rounds after a warm-up, one server, `{CLIP.name}` ({seconds:.1f} s) and "
        f'"{TEXT}" ({VOICE}). Medians and 95th percentiles.',
        "",
        "| | Wyoming p50 | p95 | HTTP p50 | p95 |",
        "|---|---|---|---|---|",
        f"| transcript after the end of audio (HTTP: whole request) | "
        f"{_pct(times['wy_stt'], 50):.0f} ms | {_pct(times['wy_stt'], 95):.0f} ms | "
        f"{_pct(times['http_stt'], 50):.0f} ms | {_pct(times['http_stt'], 95):.0f} ms |",
        f"| synthesis to the first audio | {_pct(times['wy_tts'], 50):.0f} ms | "
        f"{_pct(times['wy_tts'], 95):.0f} ms | {_pct(times['http_tts'], 50):.0f} ms | "
        f"{_pct(times['http_tts'], 95):.0f} ms |",
        "",
        f"Ratio Wyoming / HTTP (p50): transcription {_ratio(times, 'stt'):.2f}, "
        f"synthesis {_ratio(times, 'tts'):.2f}.",
    ]
    publish("\n".join(lines), args.output)
    return 0
