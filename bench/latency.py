"""`speech-pipeline bench latency`: what one person waiting alone sees, with the controls
run in the same bench run.

1. Speech: time to the first byte of a default request (no `stream_format`) through the
   openai SDK's streaming response, on a fresh server process: the first request after
   start, then warm ones. Control: the same request as a whole file (`stream: false`).
2. One long file alone over HTTP (`language=en`): real speech from `--samples` (jfk and
   the English half of multilingual.mp3, repeated to about 2 minutes), else generated
   speech. Control: stock faster-whisper `BatchedInferencePipeline` (batch 8, beam 5) in
   this process. The server process's CPU time over the request's wall time is the
   number of cores it kept busy.
3. A 5-s clip alone (`samples/hello_en.wav`) end to end over HTTP. Control: stock
   `WhisperModel.transcribe` on the same clip and weights in this process. Where its time
   goes is measured per stage in this process.
4. The concurrency results of `bench stt` (8 concurrent 8-s clips against one by one, a
   5-s request during a 5-minute file) in the same run, and the same with no all-core
   replica (`solo_threads=1`).
5. WER: the long file's against the control's, and short clips with known words (each
   sentence of the bench paragraphs, and jfk.flac with `--samples`) decoded in this
   process with each clip encoded in twice its length, as the engine now does, against
   the same clips padded to 30 s, with the CPU time of both.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from audio.media.decode import decode_audio, decode_int16
from audio.settings import Settings
from audio.wiring import Services, stt_registry
from bench.corpus import Clip, encoded, long_form, render_paragraphs, render_sentences
from bench.report import OUT_DIR, ROOT, heading, publish, word_error_rate
from bench.stt import HttpResult, http_concurrency, server_process
from common.pcm import SAMPLE_RATE, to_float32
from segmenter.vad import SileroVad
from transcriber.chunked import ChunkedEngine
from transcriber.types import SttOptions
from transcriber.utterance import encoder_frames
from transcriber.whisper import WINDOW_FRAMES, WhisperModel

SPEECH_INPUT = (
    "The weather today is mostly sunny with a light breeze from the west. Expect highs "
    "near seventy degrees. Bring a light jacket for the evening walk, please."
)
"""154 characters, three sentences: a voice agent's reply."""
SPEECH_WARM_REQUESTS = 15
JFK = (
    "And so, my fellow Americans, ask not what your country can do for you, ask what you "
    "can do for your country."
)
MIT_ENGLISH = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    "software and associated documentation files (the Software), to deal in the Software "
    "without restriction, including without limitation the rights to use, copy, modify, "
    "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
    "permit persons to whom the Software is furnished to do so, subject to the following "
    "conditions: The above copyright notice and this permission notice shall be included "
    "in all copies or substantial portions of the Software."
)
ENGLISH_HALF_SECONDS = 30.0
"""multilingual.mp3 is English for its first 30 s, then German."""
LONG_TARGET_SECONDS = 120.0
LONG_REPEATS = 3
CLIP = ROOT / "samples" / "hello_en.wav"
CLIP_REPEATS = 7
BATCH_SIZE = 8


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def _p(values: list[float], q: float) -> float:
    """The q-th percentile (NaN for no values)."""
    return float(np.percentile(np.array(values), q)) if values else float("nan")


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- 1. speech -------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeechResult:
    first_after_start: float
    """Time to first byte of the first request after the server started, seconds."""
    warm_first_bytes: tuple[float, ...]
    """Time to first byte of each warm default (streamed) request."""
    warm_complete: tuple[float, ...]
    """Time to the last byte of the same requests."""
    whole_file: tuple[float, ...]
    """Control: the same request with `stream: false` (whole file, Content-Length)."""


def _speech_ttfb(client: Any, extra: dict[str, Any] | None = None) -> tuple[float, float]:
    started = time.perf_counter()
    first: float | None = None
    with client.audio.speech.with_streaming_response.create(
        model="playai-tts", voice="Fritz-PlayAI", input=SPEECH_INPUT, extra_body=extra
    ) as response:
        for _chunk in response.iter_bytes():
            first = first if first is not None else time.perf_counter() - started
    assert first is not None, "no audio"
    return first, time.perf_counter() - started


def _speech(url: str) -> SpeechResult:
    import openai

    client = openai.OpenAI(api_key="x", base_url=f"{url}/v1", max_retries=0)
    client.models.list()  # the client's own first-call costs, not the server's speech
    first_after_start, _ = _speech_ttfb(client)
    firsts, completes, wholes = [], [], []
    for _ in range(SPEECH_WARM_REQUESTS):
        first, complete = _speech_ttfb(client)
        firsts.append(first)
        completes.append(complete)
        wholes.append(_speech_ttfb(client, {"stream": False})[1])
    return SpeechResult(first_after_start, tuple(firsts), tuple(completes), tuple(wholes))


# -- 2. one long file --------------------------------------------------------------------
def _long_file(samples_dir: str | None) -> Clip:
    if samples_dir is None:
        return long_form(render_paragraphs(), LONG_TARGET_SECONDS)
    jfk = decode_audio(str(Path(samples_dir) / "jfk.flac"))
    mit = decode_audio(str(Path(samples_dir) / "multilingual.mp3"))
    english = mit[: int(ENGLISH_HALF_SECONDS * SAMPLE_RATE)]
    pieces: list[np.ndarray] = []
    texts: list[str] = []
    while sum(p.shape[0] for p in pieces) < (LONG_TARGET_SECONDS - 5) * SAMPLE_RATE:
        pieces += [jfk, english]
        texts += [JFK, MIT_ENGLISH]
    return Clip("jfk + multilingual.mp3 English half", np.concatenate(pieces), " ".join(texts))


@dataclass(frozen=True)
class LongResult:
    name: str
    """What the file is."""
    seconds: float
    """Audio length."""
    ours: tuple[float, ...]
    """Our server over HTTP, wall seconds per run."""
    ours_cores: tuple[float, ...]
    """Server CPU seconds / wall seconds per run."""
    ours_wer: float
    control: tuple[float, ...]
    """Stock BatchedInferencePipeline in this process, wall seconds per run."""
    control_wer: float


# -- 5. short clips: encoded in twice their length vs padded to 30 s ------------------
@dataclass(frozen=True)
class ShortClips:
    clips: int
    """Short clips with known words."""
    seconds: float
    """Their total length."""
    wer: float
    """WER of all their texts together, each clip encoded in twice its length."""
    cpu: float
    """CPU seconds of this process for those encodings and beam searches."""
    padded_wer: float
    """The same, each clip padded to a 30-s window (the engine before)."""
    padded_cpu: float


def _short_clip_set(samples_dir: str | None) -> list[Clip]:
    clips = render_sentences()
    if samples_dir is not None:
        clips.append(Clip("jfk", decode_audio(str(Path(samples_dir) / "jfk.flac")), JFK))
    return clips


def _short_clips(model: WhisperModel, clips: list[Clip]) -> ShortClips:
    options = SttOptions(language="en", algorithm="chunked", segment_timestamps=False)
    reference = " ".join(c.reference for c in clips)

    def run(frames_of: Callable[[float], int]) -> tuple[float, float]:
        started, texts = time.process_time(), []
        for clip in clips:
            features = model.features(clip.samples, frames_of(clip.seconds))
            encoded = model.encode(features[None])
            (text,) = model.decode_windows(encoded, ["en"], options, [clip.seconds], False)
            texts.append(text.text)
        return word_error_rate(reference, " ".join(texts)), time.process_time() - started

    wer, cpu = run(encoder_frames)
    padded_wer, padded_cpu = run(lambda _seconds: WINDOW_FRAMES)
    seconds = sum(c.seconds for c in clips)
    return ShortClips(len(clips), seconds, wer, cpu, padded_wer, padded_cpu)


def _transcribe(client: httpx.Client, body: bytes, name: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.post("/v1/audio/transcriptions",
                           data={"model": "whisper-base", "language": "en"},
                           files={"file": (name, body)})  # fmt: skip
    response.raise_for_status()
    return time.perf_counter() - started, str(response.json()["text"])


def _ours_long(client: httpx.Client, pid: int, clip: Clip) -> tuple[list[float], list[float], str]:
    body = encoded(clip.samples, "mp3")
    walls, cores, text = [], [], ""
    for _ in range(LONG_REPEATS):
        cpu = _cpu_seconds(pid)
        wall, text = _transcribe(client, body, "long.mp3")
        walls.append(wall)
        cores.append((_cpu_seconds(pid) - cpu) / wall)
    return walls, cores, text


def _stock_model(settings: Settings) -> Any:
    from faster_whisper import WhisperModel

    path = str(stt_registry(settings).local_dir(settings.stt.default_model))
    return WhisperModel(path, device=settings.stt.device, compute_type=settings.stt.compute_type)


def _timed_runs(run: Callable[[], str], repeats: int) -> tuple[list[float], str]:
    walls, text = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        text = run()
        walls.append(time.perf_counter() - started)
    return walls, text


# -- 3. a 5-s clip -----------------------------------------------------------------------
@dataclass(frozen=True)
class ClipResult:
    ours: tuple[float, ...]
    """End to end over HTTP, seconds."""
    ours_text: str
    control: tuple[float, ...]
    """Stock WhisperModel.transcribe in this process, seconds."""
    control_text: str
    stages: dict[str, float]
    """Median seconds of each stage of a short request, run in this process."""


def _stages(engine: ChunkedEngine, clip_bytes: bytes) -> dict[str, float]:
    """Where a short request's time goes, stage by stage (median of CLIP_REPEATS)."""
    model = engine.model
    vad = SileroVad()
    options = SttOptions(language="en", algorithm="chunked", segment_timestamps=False)
    audio = decode_int16(io.BytesIO(clip_bytes))
    samples = to_float32(np.asarray(audio[:]))
    seconds = [audio.shape[0] / SAMPLE_RATE]
    frames = encoder_frames(seconds[0])  # as the engine encodes a short request
    features = model.features(samples, frames)
    encoded_window = model.encode(features[None])
    times: dict[str, list[float]] = {}

    def stage(name: str, run: Callable[[], object]) -> None:
        started = time.perf_counter()
        run()
        times.setdefault(name, []).append(time.perf_counter() - started)

    for _ in range(CLIP_REPEATS):
        stage("decode (PyAV)", lambda: decode_int16(io.BytesIO(clip_bytes)))
        stage("VAD (Silero)", lambda: vad.probabilities(audio))
        stage("log-mel features", lambda: model.features(samples, frames))
        stage(f"encoder (the clip in {frames / 100:.0f} s)", lambda: model.encode(features[None]))
        stage("beam search", lambda: model.decode_windows(
            encoded_window, ["en"], options, seconds, False))  # fmt: skip
        stage("whole engine call", lambda: engine.stream(audio, options).collect())
    return {name: _median(values) for name, values in times.items()}


# -- the run -----------------------------------------------------------------------------
def run_latency_bench(settings: Settings, args: argparse.Namespace) -> int:
    long = _long_file(args.samples)
    clip_bytes = CLIP.read_bytes()
    clip_reference = "Hello, this is a short test of the speech service."
    env = {"SPEECH_LOG_LEVEL": "warning"}
    with server_process(env) as (url, process), httpx.Client(base_url=url, timeout=600) as c:
        speech = _speech(url)
        ours_clip, ours_clip_text = [], ""
        for _ in range(CLIP_REPEATS):
            wall, ours_clip_text = _transcribe(c, clip_bytes, "hello.wav")
            ours_clip.append(wall)
        walls, cores, ours_text = _ours_long(c, process.pid, long)
    stock = _stock_model(settings)
    clip_samples = decode_audio(io.BytesIO(clip_bytes))

    def stock_clip() -> str:
        segments, _ = stock.transcribe(clip_samples, beam_size=5, language="en")
        return "".join(s.text for s in segments)

    control_clip, control_clip_text = _timed_runs(stock_clip, CLIP_REPEATS)
    from faster_whisper import BatchedInferencePipeline

    batched = BatchedInferencePipeline(stock)

    def stock_long() -> str:
        segments, _ = batched.transcribe(
            long.samples, beam_size=5, batch_size=BATCH_SIZE, language="en"
        )
        return "".join(s.text for s in segments)

    control_long, control_text = _timed_runs(stock_long, LONG_REPEATS)
    services = Services.build(settings.model_copy(update={"warmup": False}))
    try:  # the in-process measurements: one engine for both
        engine = services.stt.chunked_engine(settings.stt.default_model)
        stages = _stages(engine, clip_bytes)
        short_clips = _short_clips(engine.model, _short_clip_set(args.samples))
    finally:
        services.close()
    clip = ClipResult(tuple(ours_clip), ours_clip_text, tuple(control_clip), control_clip_text,
                      stages)  # fmt: skip
    long_result = LongResult(
        long.name, long.seconds, tuple(walls), tuple(cores),
        word_error_rate(long.reference, ours_text), tuple(control_long),
        word_error_rate(long.reference, control_text),
    )  # fmt: skip
    concurrency = http_concurrency(settings)
    previous = http_concurrency(settings.model_copy(update={"stt": settings.stt.model_copy(
        update={"solo_threads": 1})}))  # fmt: skip
    OUT_DIR.mkdir(exist_ok=True)
    raw = {"speech": asdict(speech), "long": asdict(long_result), "clip": asdict(clip),
           "concurrency": asdict(concurrency), "previous": asdict(previous),
           "short_clips": asdict(short_clips)}  # fmt: skip
    (OUT_DIR / "latency.json").write_text(json.dumps(raw, indent=2))
    publish(_markdown(speech, long_result, clip, clip_reference, concurrency, previous,
                      short_clips, args), args.output)  # fmt: skip
    return 0


def _markdown(
    speech: SpeechResult, long: LongResult, clip: ClipResult, clip_reference: str,
    concurrency: HttpResult, previous: HttpResult, short: ShortClips,
    args: argparse.Namespace,
) -> str:  # fmt: skip
    warm = _median(list(speech.warm_first_bytes))
    warm_p95 = _p(list(speech.warm_first_bytes), 95)
    busy = _median(list(long.ours_cores))
    command = "speech-pipeline bench latency" + (f" --samples {args.samples}" * bool(args.samples))
    ours_long, control_long = _median(list(long.ours)), _median(list(long.control))
    ours_clip, control_clip = _median(list(clip.ours)), _median(list(clip.control))
    burst = concurrency.median_burst
    before = previous.median_burst
    lines = heading("latency for one user")
    lines += [
        "What one person waiting alone sees; every control ran in this same run (the "
        "module docstring of `bench/latency.py` says how). Medians unless stated.",
        "",
        "| # | measure | ours | control | ratio | target |",
        "|---|---|---|---|---|---|",
        f"| 1 | speech, {len(SPEECH_INPUT)} chars, default request via the openai SDK: first "
        f"byte p50 (p95), warm | {warm * 1000:.0f} ms ({warm_p95 * 1000:.0f} ms) "
        f"| whole file (`stream: false`) {_median(list(speech.whole_file)) * 1000:.0f} ms "
        f"| {warm / _median(list(speech.whole_file)):.2f} | ≤ 200 ms |",
        f"| 1 | first request after start / warm p50 | {speech.first_after_start * 1000:.0f} ms "
        f"| {warm * 1000:.0f} ms | {speech.first_after_start / warm:.2f}x | ≤ 1.5x |",
        f"| 2 | one long file alone ({long.name}, {long.seconds:.0f} s, language=en), wall s "
        f"| {ours_long:.2f} | stock BatchedInferencePipeline (batch {BATCH_SIZE}, beam 5) "
        f"{control_long:.2f} | {control_long / ours_long:.2f}x faster | ≥ 1.15x |",
        f"| 2 | cores the server kept busy (of 2) | {busy:.2f} | | | ≥ 1.8 |",
        f"| 2 | WER on that file | {long.ours_wer:.3f} | {long.control_wer:.3f} | | unchanged |",
        f"| 3 | 5-s clip alone (`samples/hello_en.wav`, 4.8 s) over HTTP, s | {ours_clip:.3f} "
        f"| stock `WhisperModel.transcribe` {control_clip:.3f} | {ours_clip / control_clip:.2f} "
        "| ≤ 0.95 |",
        f"| 3 | its text | {clip.ours_text.strip()!r} | {clip.control_text.strip()!r} | | "
        f"reference {clip_reference!r} |",
        f"| 4 | 8 concurrent 8-s requests vs one by one (median of {len(concurrency.bursts)} "
        f"rounds: {', '.join(f'{b.speedup:.2f}x' for b in concurrency.bursts)}) "
        f"| {burst.concurrent_total:.2f} s | {burst.sequential_total:.2f} s "
        f"| {burst.speedup:.2f}x | ≥ 1.8x |",
        f"| 4 | 5-s request during a 5-minute file vs solo | {concurrency.short_under_load:.2f} s "
        f"| {concurrency.short_solo:.2f} s "
        f"| {concurrency.short_under_load / concurrency.short_solo:.2f}x | ≤ 2x |",
        f"| 4 | the same burst, 8 at once: ours vs no all-core replica (`solo_threads=1`; "
        f"its ratio {before.speedup:.2f}x) | {burst.concurrent_total:.2f} s "
        f"| {before.concurrent_total:.2f} s "
        f"| {before.concurrent_total / burst.concurrent_total:.2f}x | throughput kept |",
        f"| 4 | 5-s request during the 5-minute file: ours vs no all-core replica (its ratio "
        f"{previous.short_under_load / previous.short_solo:.2f}x) "
        f"| {concurrency.short_under_load:.2f} s | {previous.short_under_load:.2f} s "
        f"| {previous.short_under_load / concurrency.short_under_load:.2f}x | |",
        f"| 5 | WER of {short.clips} short clips with known words ({short.seconds:.0f} s), "
        f"each encoded in twice its length vs padded to 30 s (CPU s of encoder and search: "
        f"{short.cpu:.1f} vs {short.padded_cpu:.1f}) | {short.wer:.3f} | {short.padded_wer:.3f} "
        "| | unchanged |",
        "",
        "Runs: long file "
        + ", ".join(f"{w:.2f}" for w in long.ours)
        + " s (cores "
        + ", ".join(f"{c:.2f}" for c in long.ours_cores)
        + "), control "
        + ", ".join(f"{w:.2f}" for w in long.control)
        + " s; clip "
        + ", ".join(f"{w:.3f}" for w in clip.ours)
        + " s, control "
        + ", ".join(f"{w:.3f}" for w in clip.control)
        + " s; speech first bytes "
        + ", ".join(f"{f * 1000:.0f}" for f in speech.warm_first_bytes)
        + " ms.",
        "",
        "Where a short request's time goes (the clip, stage by stage in this process, median):",
        "",
        "| stage | ms |",
        "|---|---|",
        *[f"| {name} | {seconds * 1000:.0f} |" for name, seconds in clip.stages.items()],
        f"| HTTP request over loopback, end to end | {ours_clip * 1000:.0f} |",
        "",
        f"Command: `{command}`.",
    ]
    return "\n".join(lines)
