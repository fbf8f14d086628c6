"""`speech-pipeline bench load`: mixed traffic against a fresh server process, every
response checked against its request; the last run is written to RELIABILITY.md.

Loopback only, bounded in time (`--seconds`) and in requests (`--max-requests`), seeded,
and it stops by itself. Clients: 4x the server's request workers, each sending one
request after another: short clips (the transcript must match the clip), a ~2-minute
file, SSE streams (the final text must match), speech in several formats (the audio's
length must fit its text), and bad inputs (each must get its own 4xx). A 503 with
`retry-after` is counted, not a failure; a 5xx other than that, a transport error
(lost) or a response that does not match its request is.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from audio.media.decode import decode_audio
from audio.media.encode import DEFAULT_SPEECH_SAMPLE_RATE
from audio.settings import Settings
from bench.corpus import Clip, encoded, long_form, render_paragraphs
from bench.report import OUT_DIR, ROOT, heading
from bench.stt import server_process, status_mb, word_error_rate
from common.pcm import SAMPLE_RATE

REFERENCES = json.loads((ROOT / "samples" / "references.json").read_text())
SPEECH_TEXTS = (
    "Your order has shipped and should arrive on Thursday.",
    "The meeting moved to half past three. Please bring the printed agenda.",
    "Thank you for calling. How can I help you today?",
)
SPEECH_FORMATS = ("wav", "mp3", "opus", "flac", "pcm")
MAX_WER = 0.35
"""A transcript whose WER against its reference is above this does not match its audio."""
SECONDS_PER_CHAR = (0.025, 0.15)
"""A rendered text's audio must last between these many seconds per character."""


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    """`route status` -> count."""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    mismatched: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    requests: int = 0


@dataclass(frozen=True)
class Corpus:
    clip: bytes
    clip_text: str
    sse: bytes
    sse_text: str
    long: Clip


def _corpus() -> Corpus:
    samples = ROOT / "samples"
    return Corpus(
        (samples / "hello_en.wav").read_bytes(), REFERENCES["hello_en.wav"]["text"],
        (samples / "weather_en.mp3").read_bytes(), REFERENCES["weather_en.mp3"]["text"],
        long_form(render_paragraphs(), 120.0),  # whole paragraphs, so the reference fits
    )  # fmt: skip


async def _transcribe(c: httpx.AsyncClient, body: bytes, name: str) -> httpx.Response:
    return await c.post("/v1/audio/transcriptions", data={"model": "whisper-1"},
                        files={"file": (name, body)})  # fmt: skip


def _matches(reference: str, text: str) -> bool:
    return word_error_rate(reference, text) <= MAX_WER


async def _short(c: httpx.AsyncClient, corpus: Corpus) -> tuple[str, int, bool]:
    r = await _transcribe(c, corpus.clip, "clip.wav")
    return (
        "clip",
        r.status_code,
        r.status_code != 200 or _matches(corpus.clip_text, r.json()["text"]),
    )


async def _long(c: httpx.AsyncClient, corpus: Corpus, body: bytes) -> tuple[str, int, bool]:
    r = await _transcribe(c, body, "long.mp3")
    ok = r.status_code != 200 or _matches(corpus.long.reference, r.json()["text"])
    return "long file", r.status_code, ok


async def _sse(c: httpx.AsyncClient, corpus: Corpus) -> tuple[str, int, bool]:
    done = None
    async with c.stream("POST", "/v1/audio/transcriptions",
                        data={"model": "whisper-1", "stream": "true"},
                        files={"file": ("w.mp3", corpus.sse)}) as r:  # fmt: skip
        async for line in r.aiter_lines():
            if line.startswith("data: "):
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "transcript.text.done":
                    done = event["text"]
        status = r.status_code
    return "sse", status, status != 200 or (done is not None and _matches(corpus.sse_text, done))


async def _speech(c: httpx.AsyncClient, rng: random.Random) -> tuple[str, int, bool]:
    text, fmt = rng.choice(SPEECH_TEXTS), rng.choice(SPEECH_FORMATS)
    r = await c.post("/v1/audio/speech", json={"model": "playai-tts", "voice": "Fritz-PlayAI",
                                               "input": text, "response_format": fmt})  # fmt: skip
    if r.status_code != 200:
        return f"speech {fmt}", r.status_code, True
    if fmt == "pcm":
        seconds = len(r.content) / 2 / DEFAULT_SPEECH_SAMPLE_RATE  # s16le at the default rate
    else:
        seconds = await asyncio.to_thread(
            lambda: decode_audio(io.BytesIO(r.content)).shape[0] / SAMPLE_RATE
        )
    low, high = (len(text) * f for f in SECONDS_PER_CHAR)
    return f"speech {fmt}", r.status_code, low <= seconds <= high


BAD: tuple[tuple[str, int, Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]], ...] = (
    ("bad: text as audio", 400, lambda c: _transcribe(c, b"not audio at all\n" * 50, "a.wav")),
    ("bad: unknown model", 404, lambda c: c.post(
        "/v1/audio/transcriptions", data={"model": "nope"}, files={"file": ("a", b"x")})),
    ("bad: response_format", 400, lambda c: c.post(
        "/v1/audio/transcriptions", data={"model": "whisper-1", "response_format": "xml"},
        files={"file": ("a", b"x")})),
    ("bad: empty speech input", 400, lambda c: c.post("/v1/audio/speech", json={
        "model": "playai-tts", "voice": "Fritz-PlayAI", "input": ""})),
    ("bad: unknown voice", 400, lambda c: c.post("/v1/audio/speech", json={
        "model": "playai-tts", "voice": "Nobody", "input": "hi"})),
)  # fmt: skip


async def _bad(c: httpx.AsyncClient, rng: random.Random) -> tuple[str, int, bool]:
    name, expected, send = rng.choice(BAD)
    r = await send(c)
    envelope = (
        r.headers.get("content-type", "").startswith("application/json") and "error" in r.json()
    )
    # a full queue (503) can refuse an upload before it is decoded and found bad
    return name, r.status_code, r.status_code in (expected, 503) and envelope


async def _client(
    url: str, corpus: Corpus, long_mp3: bytes, seed: int, deadline: float, tally: Tally,
    budget: list[int],
) -> None:  # fmt: skip
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=url, timeout=300) as c:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            kind = rng.choices(["clip", "long", "sse", "speech", "bad"], [35, 4, 12, 34, 15])[0]
            started = time.perf_counter()
            try:
                if kind == "clip":
                    route, status, ok = await _short(c, corpus)
                elif kind == "long":
                    route, status, ok = await _long(c, corpus, long_mp3)
                elif kind == "sse":
                    route, status, ok = await _sse(c, corpus)
                elif kind == "speech":
                    route, status, ok = await _speech(c, rng)
                else:
                    route, status, ok = await _bad(c, rng)
            except httpx.HTTPError as exc:
                tally.requests += 1
                tally.lost.append(f"{kind}: {exc!r}")
                continue
            tally.requests += 1
            tally.statuses[f"{route} {status}"] += 1
            if status == 200 or route.startswith("bad"):
                tally.latencies.setdefault(route, []).append(time.perf_counter() - started)
            if not ok:
                tally.mismatched.append(f"{route} {status}")
            if status == 503:
                await asyncio.sleep(1.0)  # honour retry-after


async def _watch(url: str, pid: int, deadline: float, rss: list[tuple[float, float]],
                 depth: list[float]) -> None:  # fmt: skip
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        while time.monotonic() < deadline:
            rss.append((time.monotonic() - started, status_mb(pid, "VmRSS")))
            text = (await c.get("/metrics")).text
            for line in text.splitlines():
                if line.startswith("speech_inference_pending "):
                    depth.append(float(line.split()[1]))
            await asyncio.sleep(2.0)


def run_load(settings: Settings, args: argparse.Namespace) -> int:
    corpus = _corpus()
    long_mp3 = encoded(corpus.long.samples, "mp3")
    clients = 4 * settings.workers.workers
    tally = Tally()
    rss: list[tuple[float, float]] = []
    depth: list[float] = []
    env = {"SPEECH_LOG_LEVEL": "warning", "SPEECH_STT__FALLBACK_MODEL": "whisper-base"}
    with server_process(env) as (url, process):

        async def main() -> None:
            deadline = time.monotonic() + args.seconds
            budget = [args.max_requests]
            watcher = asyncio.create_task(_watch(url, process.pid, deadline, rss, depth))
            await asyncio.gather(*(
                _client(url, corpus, long_mp3, seed, deadline, tally, budget)
                for seed in range(clients)
            ))  # fmt: skip
            await watcher

        started = time.monotonic()
        asyncio.run(main())
        took = time.monotonic() - started
        alive = process.poll() is None
    OUT_DIR.mkdir(exist_ok=True)
    raw = {"statuses": dict(tally.statuses), "rss_mb": rss, "queue_depth": depth,
           "lost": tally.lost, "mismatched": tally.mismatched}  # fmt: skip
    (OUT_DIR / "load.json").write_text(json.dumps(raw, indent=1))
    Path(args.output).write_text(_report(tally, rss, depth, clients, took, alive, args))
    print(f"{args.output}: {tally.requests} requests", flush=True)
    return (
        0 if alive and not tally.lost and not tally.mismatched and not _server_errors(tally) else 1
    )


def _server_errors(tally: Tally) -> int:
    return sum(n for key, n in tally.statuses.items() if key.split()[-1].startswith("5")
               and not key.endswith(" 503"))  # fmt: skip


WARM_UP_SECONDS = 60.0


def _drift(rss: list[tuple[float, float]]) -> tuple[float, float]:
    """(median RSS of the last minute - median of the minute after warm-up, MB;
    least-squares slope after warm-up, MB per minute). Single samples swing by ~200 MB
    with the requests in flight, so levels are compared, not two points."""
    warm = [(t, mb) for t, mb in rss if t >= WARM_UP_SECONDS] or rss
    if len(warm) < 2:
        return 0.0, 0.0
    start, end = warm[0][0], warm[-1][0]
    first = [mb for t, mb in warm if t <= start + 60.0]
    last = [mb for t, mb in warm if t >= end - 60.0]
    slope = float(np.polyfit([t for t, _ in warm], [mb for _, mb in warm], 1)[0]) * 60.0
    return statistics.median(last) - statistics.median(first), slope


def _report(tally: Tally, rss: list[tuple[float, float]], depth: list[float], clients: int,
            took: float, alive: bool, args: argparse.Namespace) -> str:  # fmt: skip
    by_status: Counter[str] = Counter()
    for key, n in tally.statuses.items():
        by_status[key.rsplit(" ", 1)[1]] += n
    drift, trend = _drift(rss)
    lines = heading("reliability under mixed load")
    lines[0] = "# Reliability: the last `make load` run"
    lines += [
        f"{took:.0f} s of mixed traffic from {clients} concurrent clients (4x the server's "
        f"{clients // 4} request workers) against a fresh `serve` process on loopback; "
        "`bench/load.py` says what is sent and how each response is checked.",
        "",
        "| measure | value | must be |",
        "|---|---|---|",
        f"| requests | {tally.requests} | |",
        f"| 200 | {by_status['200']} | |",
        f"| 4xx, each the expected one for its bad input | "
        f"{sum(n for s, n in by_status.items() if s.startswith('4') and s != '429')} | |",
        f"| 429 | {by_status['429']} | |",
        f"| 503 (queue full, with retry-after) | {by_status['503']} | |",
        f"| other 5xx | {_server_errors(tally)} | 0 |",
        f"| lost (no response) | {len(tally.lost)} | 0 |",
        "| mismatched (wrong text, wrong audio length, unexpected status) "
        f"| {len(tally.mismatched)} | 0 |",
        f"| server alive at the end | {'yes' if alive else 'NO'} | yes |",
        f"| peak inference queue depth (running + waiting) | {max(depth, default=0):.0f} | |",
        f"| peak RSS | {max((mb for _t, mb in rss), default=0):.0f} MB | |",
        "| RSS drift after warm-up: median of the last minute - median of the second "
        f"minute (RSS swings with the work in flight) | {drift:+.0f} MB | ≤ 50 MB |",
        f"| RSS trend after warm-up (least-squares slope) | {trend:+.1f} MB/min | |",
        "",
        "| route | count | p50 s | p95 s |",
        "|---|---|---|---|",
    ]
    for route in sorted(tally.latencies):
        values = tally.latencies[route]
        lines.append(f"| {route} | {len(values)} | {statistics.median(values):.2f} "
                     f"| {np.percentile(values, 95):.2f} |")  # fmt: skip
    lines += ["", "Statuses by request kind: " + ", ".join(
        f"{k}: {n}" for k, n in sorted(tally.statuses.items())) + "."]  # fmt: skip
    if tally.lost or tally.mismatched:
        lines += ["", "Problems: " + "; ".join([*tally.lost, *tally.mismatched][:20])]
    lines += [
        "",
        f"Command: `speech-pipeline bench load --seconds {args.seconds:g}` (`make load`).",
    ]
    return "\n".join(lines) + "\n"
