"""`speech-pipeline bench load`: mixed traffic against a fresh server process, every
response checked against its request; the last run is written to RELIABILITY.md.

Loopback only, bounded in time (`--seconds`) and in requests (`--max-requests`), seeded,
and it stops by itself. Clients: 4x the server's request workers, each sending one
request after another: short clips (the transcript must match the clip), a ~2-minute
file, SSE streams (the final text must match), speech in several formats (the audio's
length must fit its text), and bad inputs (each must get its own 4xx). A 503 with
`retry-after` is counted, not a failure; a 5xx other than that, a transport error
(lost) or a response that does not match its request is.

`--replicas 2`: two `serve` processes sharing a throwaway PostgreSQL, Redis (when
installed) and one files directory; clients alternate between them, and batch clients
add batch traffic: each batch (BATCH_LINES clips with unique custom ids) is created on
one replica and polled and read on the other. Every custom id must come back exactly
once, in the output file with the clip's transcript, or the batch is counted as losing
or duplicating lines. The run is appended to RELIABILITY.md beside the one-replica run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

from audio.media.decode import decode_audio
from audio.media.encode import DEFAULT_SPEECH_SAMPLE_RATE
from audio.settings import Settings
from bench.corpus import Clip, encoded, long_form, render_paragraphs
from bench.report import OUT_DIR, ROOT, heading, word_error_rate
from bench.server import redis_server
from bench.stt import server_process, status_mb
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
    batches: int = 0
    """Batches completed (replicas mode)."""
    batch_lines: int = 0
    """Lines those batches were sent."""
    lines_back: int = 0
    """Lines that came back, each once with a matching transcript."""
    lines_lost: int = 0
    lines_duplicated: int = 0
    lines_mismatched: int = 0
    by_replica: Counter[str] = field(default_factory=Counter)
    """Lines per replica that ran them (`x_replica`)."""


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


BATCH_LINES = 6
BATCH_CLIENTS = 2


async def _batch_client(
    urls: list[str], corpus: Corpus, seed: int, deadline: float, tally: Tally
) -> None:
    """Create batches on one replica and follow them on the other until the deadline;
    then finish the ones in flight (each checked line by line)."""
    data_url = "data:audio/wav;base64," + base64.b64encode(corpus.clip).decode()
    clients = [httpx.AsyncClient(base_url=url, timeout=300) for url in urls]
    try:
        index = seed
        while time.monotonic() < deadline:
            make, follow = clients[index % 2], clients[(index + 1) % 2]
            index += 1
            ids = [f"s{seed}-{uuid.uuid4().hex[:8]}-{i}" for i in range(BATCH_LINES)]
            body = "\n".join(json.dumps({"custom_id": cid, "method": "POST",
                                         "url": "/v1/audio/transcriptions",
                                         "body": {"model": "whisper-1", "url": data_url}})
                             for cid in ids)  # fmt: skip
            try:
                upload = {"file": ("in.jsonl", body.encode())}
                source = (await make.post("/v1/files", data={"purpose": "batch"},
                                          files=upload)).json()  # fmt: skip
                batch = (await make.post("/v1/batches", json={
                    "input_file_id": source["id"], "endpoint": "/v1/audio/transcriptions",
                    "completion_window": "24h"})).json()  # fmt: skip
                while True:
                    state = (await follow.get(f"/v1/batches/{batch['id']}")).json()
                    if state["status"] not in ("validating", "in_progress", "finalizing"):
                        break
                    await asyncio.sleep(1.0)
                output = (await follow.get(f"/v1/files/{state['output_file_id']}/content")
                          ).text if state["output_file_id"] else ""  # fmt: skip
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                tally.lost.append(f"batch: {exc!r}")
                continue
            tally.batches += 1
            tally.batch_lines += len(ids)
            seen = Counter[str]()
            for line in output.splitlines():
                record = json.loads(line)
                seen[record["custom_id"]] += 1
                tally.by_replica[str(record.get("x_replica"))] += 1
                text = record["response"]["body"].get("text", "")
                if not _matches(corpus.clip_text, text):
                    tally.lines_mismatched += 1
            tally.lines_back += sum(1 for cid in ids if seen[cid] >= 1)
            tally.lines_lost += sum(1 for cid in ids if seen[cid] == 0)
            tally.lines_duplicated += sum(n - 1 for n in seen.values() if n > 1)
            tally.lines_duplicated += sum(n for cid, n in seen.items() if cid not in ids)
    finally:
        for client in clients:
            await client.aclose()


@contextmanager
def _replicas(count: int) -> Iterator[list[tuple[str, subprocess.Popen[bytes]]]]:
    """One `serve` process, or `count` sharing a throwaway PostgreSQL, Redis (where
    installed) and one files directory."""
    env = {"SPEECH_LOG_LEVEL": "warning", "SPEECH_STT__FALLBACK_MODEL": "whisper-base"}
    if count == 1:
        with server_process(env) as server:
            yield [server]
        return
    from bench.postgres import create_database, postgres_server
    from bench.replicas import replicas

    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        database = create_database(stack.enter_context(postgres_server()), "load")
        if shutil.which("redis-server"):
            env["SPEECH_RATE_LIMITS__STORAGE_URI"] = stack.enter_context(redis_server())
        yield stack.enter_context(replicas(env, count, database, root))


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
    replicas = args.replicas
    clients = 4 * settings.workers.workers  # the same clients, spread over the replicas
    tally = Tally()
    rss: list[tuple[float, float]] = []
    depth: list[float] = []
    with _replicas(replicas) as servers:
        urls = [url for url, _process in servers]

        async def main() -> None:
            deadline = time.monotonic() + args.seconds
            budget = [args.max_requests]
            watcher = asyncio.create_task(
                _watch(urls[0], servers[0][1].pid, deadline, rss, depth))  # fmt: skip
            batch = [_batch_client(urls, corpus, seed, deadline, tally)
                     for seed in range(BATCH_CLIENTS if replicas > 1 else 0)]  # fmt: skip
            await asyncio.gather(*(
                _client(urls[seed % replicas], corpus, long_mp3, seed, deadline, tally, budget)
                for seed in range(clients)
            ), *batch)  # fmt: skip
            await watcher

        started = time.monotonic()
        asyncio.run(main())
        took = time.monotonic() - started
        alive = all(process.poll() is None for _url, process in servers)
    OUT_DIR.mkdir(exist_ok=True)
    raw = {"statuses": dict(tally.statuses), "rss_mb": rss, "queue_depth": depth,
           "lost": tally.lost, "mismatched": tally.mismatched}  # fmt: skip
    (OUT_DIR / "load.json").write_text(json.dumps(raw, indent=1))
    report = _report(tally, rss, depth, clients, took, alive, args)
    if replicas > 1:
        with open(args.output, "a", encoding="utf-8") as out:
            out.write("\n" + report)
    else:
        Path(args.output).write_text(report)
    print(f"{args.output}: {tally.requests} requests", flush=True)
    broken = tally.lines_lost or tally.lines_duplicated or tally.lines_mismatched
    return (
        0 if alive and not tally.lost and not tally.mismatched and not _server_errors(tally)
        and not broken else 1
    )  # fmt: skip


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
    if args.replicas > 1:
        lines[0] = (
            f"## Two replicas, one deployment: the last `bench load --replicas {args.replicas}` run"
        )
        lines += [
            f"{args.replicas} `serve` processes sharing a throwaway PostgreSQL (the job store), "
            "Redis (the rate limits) and one files directory; the interactive clients "
            f"alternate between them, and {BATCH_CLIENTS} batch clients each create a batch "
            f"of {BATCH_LINES} clips on one replica and follow and read it on the other, "
            "again and again. Every custom id must come back once with its transcript.",
            "",
            "| batch measure | value | must be |",
            "|---|---|---|",
            f"| batches completed | {tally.batches} | |",
            f"| lines sent / back | {tally.batch_lines} / {tally.lines_back} | equal |",
            f"| lines lost | {tally.lines_lost} | 0 |",
            f"| lines duplicated | {tally.lines_duplicated} | 0 |",
            f"| lines with a wrong transcript | {tally.lines_mismatched} | 0 |",
            "| lines run by each replica | " + ", ".join(
                f"{k}: {n}" for k, n in sorted(tally.by_replica.items())) + " | both |",
            "",
            "The interactive traffic (memory measured on the first replica):",
            "",
        ]  # fmt: skip
    lines += [
        f"{took:.0f} s of mixed traffic from {clients} concurrent clients (4x the server's "
        f"{clients // 4} request workers) against "
        + (
            "a fresh `serve` process"
            if args.replicas == 1
            else f"{args.replicas} fresh `serve` processes, alternately,"
        )
        + " on loopback; "
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
        f"Command: `speech-pipeline bench load --seconds {args.seconds:g}"
        + (f" --replicas {args.replicas}`." if args.replicas > 1 else "` (`make load`)."),
    ]
    return "\n".join(lines) + "\n"
