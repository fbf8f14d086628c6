"""`speech-pipeline bench stt`: our long-form paths against stock faster-whisper.

Same process, same weights, same audio, beam 5 everywhere:
(a) stock `WhisperModel.transcribe` (sequential, the control),
(b) stock `BatchedInferencePipeline`, (c) our chunked and sequential engines,
(d) the HTTP service under concurrent clients. `--hour` adds the one-hour file's
memory measurement (slow).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from audio.services.stt import SttService
from audio.settings import Settings
from audio.wiring import Services
from bench.corpus import Clip, encoded, first_seconds, long_form, render_paragraphs
from bench.report import OUT_DIR, heading, publish, word_error_rate
from bench.server import free_port, serving
from transcriber.types import Samples, SttOptions

LONG_SECONDS = 300.0
BATCH_SIZE = 8


@dataclass(frozen=True)
class Row:
    path: str
    """Which code path ran."""
    audio_seconds: float
    wall_seconds: float
    wer: float

    @property
    def rtfx(self) -> float:
        return self.audio_seconds / self.wall_seconds


def _timed(name: str, clip: Clip, run: Callable[[Samples], str]) -> Row:
    started = time.perf_counter()
    text = run(clip.samples)
    wall = time.perf_counter() - started
    row = Row(name, clip.seconds, wall, word_error_rate(clip.reference, text))
    print(f"{name}: {wall:.1f} s, RTFx {row.rtfx:.1f}, WER {row.wer:.3f}", file=sys.stderr)
    return row


def _stock(path: str, settings: Settings, **threads: int) -> Any:
    """A stock faster-whisper model on the same weights: its own thread defaults unless
    `threads` (cpu_threads/num_workers) are given."""
    from faster_whisper import WhisperModel

    return WhisperModel(path, device=settings.stt.device, compute_type=settings.stt.compute_type,
                        **threads)  # fmt: skip


def _sequential_text(model: Any, beam: int) -> Callable[[Samples], str]:
    """Stock `WhisperModel.transcribe` of a model, as a samples -> text function."""

    def run(samples: Samples) -> str:
        return "".join(s.text for s in model.transcribe(samples, beam_size=beam)[0])

    return run


def _engine_rows(settings: Settings, clip: Clip) -> tuple[list[Row], SttService]:
    from faster_whisper import BatchedInferencePipeline

    service = Services.build(settings).stt
    model_id = settings.stt.default_model
    path = str(service.registry.local_dir(model_id))
    stock_model = _stock(path, settings)
    tuned_model = _stock(path, settings, cpu_threads=1)
    beam = settings.stt.beam_size
    batched = BatchedInferencePipeline(stock_model)
    chunked = service.engine(model_id, "chunked")
    sequential = service.engine(model_id, "sequential")

    stock, stock_tuned = _sequential_text(stock_model, beam), _sequential_text(tuned_model, beam)

    def stock_batched(samples: Samples) -> str:
        segments, _ = batched.transcribe(samples, beam_size=beam, batch_size=BATCH_SIZE)
        return "".join(s.text for s in segments)

    ours_text = SttOptions(beam_size=beam, algorithm="chunked", segment_timestamps=False)
    ours_timed = SttOptions(beam_size=beam, algorithm="chunked")
    ours_sequential = SttOptions(beam_size=beam, vad_filter=settings.stt.vad_filter)
    rows = [
        _timed("(a) stock WhisperModel.transcribe (sequential), its default threads", clip, stock),
        _timed("(a') stock WhisperModel.transcribe (sequential), cpu_threads=1", clip, stock_tuned),
        _timed(f"(b) stock BatchedInferencePipeline, batch {BATCH_SIZE}", clip, stock_batched),
        _timed(
            "(c) ours, chunked (json/text: no alignment)",
            clip,
            lambda s: chunked.stream(s, ours_text).collect().text,
        ),
        _timed(
            "(c) ours, chunked (verbose_json/srt: sentence segments)",
            clip,
            lambda s: chunked.stream(s, ours_timed).collect().text,
        ),
        _timed(
            "(c) ours, sequential",
            clip,
            lambda s: sequential.stream(s, ours_sequential).collect().text,
        ),
    ]
    return rows, service


def _wav(samples: Samples) -> bytes:
    return encoded(samples, "wav")


BURST_ROUNDS = 3
"""How many times the 8-clip burst is measured; one burst is noisy on a shared 2-core box."""


@dataclass(frozen=True)
class Burst:
    sequential_total: float
    """8 clips one after another, seconds."""
    concurrent_total: float
    """The same 8 sent together, seconds."""
    latencies: tuple[float, ...]
    """Each request's latency in the concurrent burst, seconds."""

    @property
    def speedup(self) -> float:
        return self.sequential_total / self.concurrent_total


@dataclass(frozen=True)
class HttpResult:
    bursts: tuple[Burst, ...]
    """Every round of (8 one by one, then the same 8 at once), in the order they ran."""
    short_solo: float
    """Median latency of a 5-s request on an idle server."""
    short_under_load: float
    """Median latency of the same request, sent 3 times one after another while a
    5-minute file is being transcribed."""

    @property
    def median_burst(self) -> Burst:
        """The round whose speed-up is the median of all rounds."""
        ordered = sorted(self.bursts, key=lambda b: b.speedup)
        return ordered[len(ordered) // 2]


def post_wav(client: httpx.Client, body: bytes) -> float:
    started = time.perf_counter()
    client.post("/v1/audio/transcriptions", data={"model": "whisper-base"},
                files={"file": ("a.wav", body, "audio/wav")}).raise_for_status()  # fmt: skip
    return time.perf_counter() - started


def _http(settings: Settings, clips: list[Clip], long: Clip) -> HttpResult:
    eight = [_wav(first_seconds(c, 8.0)) for c in clips[:8]]
    short = _wav(first_seconds(clips[0], 5.0))
    long_wav = _wav(first_seconds(long, 300.0))
    with serving(settings) as url, httpx.Client(base_url=url, timeout=600) as client:
        post_wav(client, short)  # load the model
        bursts = tuple(_burst(client, eight) for _ in range(BURST_ROUNDS))
        solo = statistics.median(post_wav(client, short) for _ in range(3))
        with ThreadPoolExecutor(1) as pool:
            background = pool.submit(post_wav, client, long_wav)
            time.sleep(2.0)
            under_load = [post_wav(client, short) for _ in range(3)]
            if background.done():
                raise RuntimeError("the 5-minute file finished before the short requests")
            background.result()
        loaded = statistics.median(under_load)
    return HttpResult(bursts, solo, loaded)


def http_concurrency(settings: Settings) -> HttpResult:
    """The concurrency measurements alone, on this bench's generated speech."""
    clips = render_paragraphs()
    return _http(settings, clips, long_form(clips, LONG_SECONDS))


def _burst(client: httpx.Client, bodies: list[bytes]) -> Burst:
    started = time.perf_counter()
    for body in bodies:
        post_wav(client, body)
    sequential = time.perf_counter() - started
    with ThreadPoolExecutor(len(bodies)) as pool:
        started = time.perf_counter()
        latencies = tuple(pool.map(lambda b: post_wav(client, b), bodies))
        concurrent = time.perf_counter() - started
    return Burst(sequential, concurrent, latencies)


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def status_mb(pid: int, field: str) -> float:
    """A memory line of /proc/PID/status (VmRSS: now, VmHWM: the peak so far), in MB."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def server_process(
    env: dict[str, str], port: int | None = None, output: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`speech-pipeline serve` in a process of its own (its memory is measured alone), on
    `port` or a free one; its stdout and stderr go to `output` when given."""
    port = port or free_port()
    command = [sys.executable, "-m", "audio.cli", "serve", "--port", str(port)]
    sink = output.open("ab") if output is not None else None
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=sink, stderr=subprocess.STDOUT if sink else None
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server process did not start")
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        if sink is not None:
            sink.close()


def _hour(clips: list[Clip]) -> tuple[float, float, float, float]:
    """(idle RSS MB, peak RSS MB, seconds taken, WER) of one hour over HTTP, measured on a
    fresh server process: idle = after one 5-s request, peak = its VmHWM at the end."""
    hour = long_form(clips, 3600.0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hour.mp3"
        path.write_bytes(encoded(hour.samples, "mp3"))
        reference = hour.reference
        del hour
        env = {"SPEECH_LIMITS__MAX_UPLOAD_BYTES": "200000000", "SPEECH_LOG_LEVEL": "warning"}
        with (
            server_process(env) as (url, process),
            httpx.Client(base_url=url, timeout=3600) as client,
        ):
            post_wav(client, _wav(first_seconds(clips[0], 5.0)))
            time.sleep(1.0)
            idle = status_mb(process.pid, "VmRSS")
            started = time.perf_counter()
            with path.open("rb") as fh:
                response = client.post("/v1/audio/transcriptions", data={"model": "whisper-base"},
                                       files={"file": ("hour.mp3", fh, "audio/mpeg")})  # fmt: skip
            took = time.perf_counter() - started
            peak = status_mb(process.pid, "VmHWM")
        response.raise_for_status()
        return idle, peak, took, word_error_rate(reference, response.json()["text"])


def run_stt_bench(settings: Settings, args: argparse.Namespace) -> int:
    clips = render_paragraphs()
    long = long_form(clips, LONG_SECONDS)
    rows, service = _engine_rows(settings, long)
    service.close()
    http = _http(settings, clips, long)
    hour = _hour(clips) if args.hour else None
    OUT_DIR.mkdir(exist_ok=True)
    raw = {"rows": [asdict(r) for r in rows], "http": asdict(http), "hour": hour}
    (OUT_DIR / "stt.json").write_text(json.dumps(raw, indent=2))
    publish(_markdown(rows, http, hour, long, settings), args.output)
    return 0


def _markdown(
    rows: list[Row], http: HttpResult, hour: tuple[float, float, float, float] | None,
    long: Clip, settings: Settings,
) -> str:  # fmt: skip
    control = rows[0]
    burst = http.median_burst
    rounds = ", ".join(f"{b.speedup:.2f}x" for b in http.bursts)
    lines = heading("speech-to-text")
    lines += [
        f"Model `{settings.stt.default_model}` ({settings.stt.compute_type}, "
        f"{settings.stt.device}), beam {settings.stt.beam_size} everywhere. Ours: "
        f"{settings.stt.parallel_decoders()} decoders x {settings.stt.cpu_threads} thread, "
        f"max_batch {settings.stt.short_batch()}, long_max_batch {settings.stt.long_max_batch}. "
        "Controls on the same weights in this process: (a) stock faster-whisper with its own "
        "thread default (what a stock user gets), (a') the same with cpu_threads=1 (the "
        f"fastest stock setting measured here). Long-form set: {long.seconds:.0f} s of "
        "generated English speech (8 fixed paragraphs, 4 voices, repeated), reference = the "
        "text.",
        "",
        "| path | audio s | wall s | RTFx | throughput vs (a) | WER |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.path} | {row.audio_seconds:.0f} | {row.wall_seconds:.1f} | "
            f"{row.rtfx:.1f} | {row.rtfx / control.rtfx:.2f}x | {row.wer:.3f} |"
        )
    lines += [
        "",
        "(d) HTTP service on loopback (chunked, the settings above):",
        "",
        f"- 8 different 8-s clips one by one, then all 8 at once, {len(http.bursts)} rounds "
        f"(speed-ups in order: {rounds}). Median round: {burst.sequential_total:.2f} s one by "
        f"one; {burst.concurrent_total:.2f} s at once (p50 {_pct(burst.latencies, 50):.2f} s, "
        f"p95 {_pct(burst.latencies, 95):.2f} s) — **{burst.speedup:.2f}x** faster in total.",
        f"- A 5-s request: {http.short_solo:.2f} s alone (median of 3); "
        f"{http.short_under_load:.2f} s while a 5-minute file is being transcribed (median of 3) "
        f"(**{http.short_under_load / http.short_solo:.2f}x** its solo latency).",
    ]
    if hour is not None:
        idle, peak, took, wer = hour
        lines += [
            f"- One hour of speech (mp3 upload) to a fresh `serve` process: {took:.0f} s (RTFx "
            f"{3600 / took:.1f}), WER {wer:.3f}; RSS idle (after one 5-s request) {idle:.0f} "
            f"MB, peak (VmHWM) {peak:.0f} MB: **+{peak - idle:.0f} MB**.",
        ]
    return "\n".join(lines)
