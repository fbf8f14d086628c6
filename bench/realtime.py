"""`speech-pipeline bench realtime`: what a voice agent streaming to `/v1/realtime` sees.

A fresh server process; clients speak the current session shape over `websockets`,
server_vad (500 ms silence, 300 ms padding), 24-kHz pcm16 in 40-ms frames paced at real
time. The audio: sentences of the benchmark paragraphs rendered by the project's voices
(one utterance each, 1.5 s of silence between), times taken on the client:

- final latency: `completed` minus the moment the audio at `speech_stopped.audio_end_ms`
  was sent (the moment the end of the turn was due), for turns of 3-10 s;
- first delta: its arrival minus the moment the detected speech onset was sent
  (`audio_start_ms` + the padding); delta gaps: the longest wait for the next delta (or
  for the end of the speech, `audio_end_ms` minus the 500 ms of silence) while speaking;
- WER: the English half of `multilingual.mp3` (with `--samples`) streamed through one
  session, against the same audio sent to the file route in this run;
- sessions held at real time: N sessions at once (starts staggered), final-latency p95 per
  N, with a 5-s clip sent to the file route every few seconds meanwhile (its latency
  against the same clip alone).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from audio.media.decode import decode_audio
from audio.media.encode import resample
from bench.corpus import PARAGRAPHS, cycling_voices, encoded, speak
from bench.latency import ENGLISH_HALF_SECONDS, MIT_ENGLISH, _p
from bench.report import OUT_DIR, ROOT, heading, publish, word_error_rate
from bench.stt import server_process
from common.pcm import INT16_MAX, SAMPLE_RATE
from transcriber.types import Samples

RATE = 24_000
FRAME_MS = 40
GAP_SECONDS = 1.5
PADDING_MS = 300
SILENCE_MS = 500
SESSION_STEPS = (1, 2, 4, 6, 8)
HELD_P95_SECONDS = 1.5
CLIP = ROOT / "samples" / "hello_en.wav"


def render_utterances() -> list[Samples]:
    """Each sentence of the benchmark paragraphs, voices cycling (16 kHz)."""
    return [chunk for chunks in speak(cycling_voices(PARAGRAPHS[:4])) for chunk in chunks]


def timeline(utterances: list[Samples]) -> bytes:
    """The utterances with silence around and between them, as 24-kHz pcm16."""
    gap = np.zeros(int(GAP_SECONDS * SAMPLE_RATE), np.float32)
    pieces: list[Samples] = [gap[: SAMPLE_RATE // 2]]
    for utterance in utterances:
        pieces += [utterance, gap]
    pieces.append(gap)
    audio = resample(np.concatenate(pieces), SAMPLE_RATE, RATE)
    return (np.clip(audio, -1, 1) * INT16_MAX).astype("<i2").tobytes()


@dataclass
class SessionLog:
    """What one session sent and received, with wall times."""

    sent: list[tuple[float, float]] = field(default_factory=list)
    """(audio ms at the end of a frame, wall time it was sent)."""
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def sent_at(self, audio_ms: float) -> float:
        for ms, wall in self.sent:
            if ms >= audio_ms:
                return wall
        return self.sent[-1][1]


@dataclass(frozen=True)
class Turn:
    seconds: float
    """Turn length (speech_started .. speech_stopped audio times)."""
    final_latency: float | None
    """Seconds from the end being due to `completed`."""
    first_delta: float | None
    """Seconds from the speech onset to the first delta."""
    longest_gap: float | None
    """Longest wait for the next delta while speaking."""
    transcript: str


async def run_session(url: str, pcm: bytes, delay: float = 0.0) -> SessionLog:
    import websockets

    await asyncio.sleep(delay)
    log = SessionLog()
    step = RATE * FRAME_MS // 1000 * 2
    async with websockets.connect(f"{url}/v1/realtime?intent=transcription") as ws:
        await ws.recv()
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "transcription", "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": RATE},
                "transcription": {"model": "whisper-1", "language": "en"},
                "turn_detection": {"type": "server_vad", "silence_duration_ms": SILENCE_MS,
                                   "prefix_padding_ms": PADDING_MS}}}}}))  # fmt: skip

        async def send() -> None:
            start = time.monotonic()
            for offset in range(0, len(pcm), step):
                audio = base64.b64encode(pcm[offset : offset + step]).decode()
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": audio}))
                end_ms = (offset + step) / 2 / RATE * 1000
                log.sent.append((end_ms, time.monotonic()))
                await asyncio.sleep(max(0.0, start + end_ms / 1000 - time.monotonic()))

        sender = asyncio.create_task(send())
        committed = completed = 0
        while not (sender.done() and completed >= committed):
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            event = json.loads(message)
            log.events.append((time.monotonic(), event))
            committed += event["type"] == "input_audio_buffer.committed"
            completed += event["type"].startswith("conversation.item.input_audio_transcription.") \
                and not event["type"].endswith(".delta")  # fmt: skip
        await sender
    return log


def turns(log: SessionLog) -> list[Turn]:
    by_item: dict[str, dict[str, Any]] = {}
    for wall, event in log.events:
        item = event.get("item_id")
        if item is None:
            continue
        entry = by_item.setdefault(item, {"deltas": []})
        kind = event["type"]
        if kind == "input_audio_buffer.speech_started":
            entry["start_ms"] = event["audio_start_ms"]
        elif kind == "input_audio_buffer.speech_stopped":
            entry["end_ms"] = event["audio_end_ms"]
        elif kind.endswith(".delta"):
            entry["deltas"].append(wall)
        elif kind.endswith(".completed"):
            entry["done"], entry["text"] = wall, event["transcript"]
    result = []
    for entry in by_item.values():
        if "start_ms" not in entry or "end_ms" not in entry:
            continue
        onset = log.sent_at(entry["start_ms"] + PADDING_MS)
        due = log.sent_at(entry["end_ms"])
        spoken = log.sent_at(entry["end_ms"] - SILENCE_MS)  # the end of the speech itself
        speaking = [w for w in entry["deltas"] if w <= spoken]
        marks = [onset, *speaking, spoken]
        result.append(Turn(
            seconds=(entry["end_ms"] - entry["start_ms"]) / 1000,
            final_latency=entry["done"] - due if "done" in entry else None,
            first_delta=entry["deltas"][0] - onset if entry["deltas"] else None,
            longest_gap=max(b - a for a, b in itertools.pairwise(marks)),
            transcript=entry.get("text", ""),
        ))  # fmt: skip
    return result


async def _clip_latencies(url: str, body: bytes, until: asyncio.Event) -> list[float]:
    walls = []
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        while not until.is_set():
            started = time.monotonic()
            response = await client.post(
                "/v1/audio/transcriptions", data={"model": "whisper-1", "language": "en"},
                files={"file": ("clip.wav", body, "audio/wav")},
            )  # fmt: skip
            response.raise_for_status()
            walls.append(time.monotonic() - started)
            await asyncio.sleep(2.0)
    return walls


async def _sessions(
    url: str, pcm: bytes, count: int, clip: bytes
) -> tuple[list[Turn], list[float]]:
    until = asyncio.Event()
    probe = asyncio.create_task(_clip_latencies(url, clip, until))
    stagger = GAP_SECONDS * 2 / count
    logs = await asyncio.gather(*(run_session(url, pcm, i * stagger) for i in range(count)))
    until.set()
    return [t for log in logs for t in turns(log)], await probe


@dataclass(frozen=True)
class StepResult:
    sessions: int
    turns: int
    final_p50: float
    final_p95: float
    clip_p50: float


def _wer_rows(url: str, samples: str | None) -> tuple[float, float] | None:
    """(realtime WER, file-route WER) on the English half of multilingual.mp3."""
    if samples is None:
        return None
    audio = decode_audio(str(Path(samples) / "multilingual.mp3"))
    english = audio[: int(ENGLISH_HALF_SECONDS * SAMPLE_RATE)]
    with httpx.Client(base_url=url, timeout=300) as client:
        response = client.post(
            "/v1/audio/transcriptions", data={"model": "whisper-1", "language": "en"},
            files={"file": ("english.wav", encoded(english, "wav"), "audio/wav")},
        )  # fmt: skip
        response.raise_for_status()
        file_text = response.json()["text"]
    log = asyncio.run(run_session(url.replace("http://", "ws://"), timeline([english])))
    streamed = " ".join(t.transcript for t in turns(log))
    return word_error_rate(MIT_ENGLISH, streamed), word_error_rate(MIT_ENGLISH, file_text)


def run_realtime_bench(args: argparse.Namespace) -> int:
    utterances = render_utterances()
    pcm = timeline(utterances)
    clip = CLIP.read_bytes()
    env = {"SPEECH_LOG_LEVEL": "warning", "SPEECH_STT__FALLBACK_MODEL": "whisper-base"}
    with server_process(env) as (url, _process):
        ws_url = url.replace("http://", "ws://")
        httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1"},
                   files={"file": ("clip.wav", clip, "audio/wav")}, timeout=120)  # fmt: skip
        solo_clip = []
        for _ in range(5):
            started = time.monotonic()
            httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "whisper-1",
                       "language": "en"}, files={"file": ("clip.wav", clip, "audio/wav")},
                       timeout=120).raise_for_status()  # fmt: skip
            solo_clip.append(time.monotonic() - started)
        single = turns(asyncio.run(run_session(ws_url, pcm)))
        wer = _wer_rows(url, args.samples)
        steps = []
        for count in SESSION_STEPS:
            found, clips = asyncio.run(_sessions(ws_url, pcm, count, clip))
            latencies = [t.final_latency for t in found if t.final_latency is not None]
            steps.append(StepResult(count, len(found), _p(latencies, 50), _p(latencies, 95),
                                    _p(clips, 50)))  # fmt: skip
            if _p(latencies, 95) > 2 * HELD_P95_SECONDS:
                break
    OUT_DIR.mkdir(exist_ok=True)
    raw = {"single": [asdict(t) for t in single], "steps": [asdict(s) for s in steps],
           "wer": wer, "solo_clip": solo_clip}  # fmt: skip
    (OUT_DIR / "realtime.json").write_text(json.dumps(raw, indent=2))
    publish(_markdown(single, steps, wer, statistics.median(solo_clip)), args.output)
    return 0


def _markdown(
    single: list[Turn], steps: list[StepResult], wer: tuple[float, float] | None,
    solo_clip: float,
) -> str:  # fmt: skip
    sized = [t for t in single if 3.0 <= t.seconds <= 10.0]
    finals = [t.final_latency for t in sized if t.final_latency is not None]
    firsts = [t.first_delta for t in sized if t.first_delta is not None]
    gaps = [t.longest_gap for t in sized if t.longest_gap is not None]
    held = max((s.sessions for s in steps if s.final_p95 <= HELD_P95_SECONDS), default=0)
    lines = heading("realtime transcription")
    lines += [
        "One fresh server process; clients on loopback, audio paced at real time in "
        f"{FRAME_MS}-ms frames, server_vad ({SILENCE_MS} ms silence). The docstring of "
        "`bench/realtime.py` says what each figure measures.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| turns of 3-10 s (one session) | {len(sized)} of {len(single)} | |",
        f"| final text after the end of speech, p50 / p95 | {_p(finals, 50) * 1000:.0f} ms / "
        f"{_p(finals, 95) * 1000:.0f} ms | ≤ 500 / ≤ 900 ms |",
        f"| first delta after speech onset, p50 / worst | {_p(firsts, 50) * 1000:.0f} ms / "
        f"{max(firsts, default=float('nan')) * 1000:.0f} ms | ≤ 1200 ms |",
        f"| longest wait for the next delta while speaking, p50 / worst | "
        f"{_p(gaps, 50) * 1000:.0f} ms / {max(gaps, default=float('nan')) * 1000:.0f} ms "
        "| ≤ 1000 ms |",
    ]
    if wer is not None:
        lines.append(f"| WER, multilingual.mp3 English half: realtime / file route (this run) "
                     f"| {wer[0]:.3f} / {wer[1]:.3f} | ≤ file + 0.02 |")  # fmt: skip
    lines.append(
        f"| sessions held at real time (final p95 ≤ {HELD_P95_SECONDS} s) | {held} | ≥ 6 |"
    )
    lines += [
        "",
        f"| sessions | turns | final p50 | final p95 | 5-s clip via the file route, p50 "
        f"(alone: {solo_clip:.2f} s) |",
        "|---|---|---|---|---|",
    ]
    for step in steps:
        lines.append(f"| {step.sessions} | {step.turns} | {step.final_p50 * 1000:.0f} ms | "
                     f"{step.final_p95 * 1000:.0f} ms | {step.clip_p50:.2f} s "
                     f"({step.clip_p50 / solo_clip:.2f}x) |")  # fmt: skip
    return "\n".join(lines)
