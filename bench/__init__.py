"""`speech-pipeline bench WHAT`: measurements (stt, tts, voices, diacritizers, wyoming,
sse, latency, realtime, batch, diarize, load), written to BENCHMARKS.md (load: RELIABILITY.md).

Every figure is reported next to a control run made in the same process on the
same input (stock faster-whisper for STT, the unshaped engine for TTS). The whole run
keeps numpy's BLAS to the threads the service uses (`audio.services.blas_limit`), so
the controls in this process get the same setting as the server.
"""

from __future__ import annotations

import argparse

from audio.settings import Settings
from audio.wiring import blas_limit


def run_bench(settings: Settings, args: argparse.Namespace) -> int:
    with blas_limit():
        return _run(settings, args)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.output is None:
        args.output = "RELIABILITY.md" if args.what == "load" else "BENCHMARKS.md"
    if args.what == "sse":
        from bench.sse import run_sse_bench

        return run_sse_bench(settings, args)
    if args.what == "load":
        from bench.load import run_load

        return run_load(settings, args)
    if args.what == "latency":
        from bench.latency import run_latency_bench

        return run_latency_bench(settings, args)
    if args.what == "batch" and args.replicas > 1:
        from bench.replicas import run_replicas_bench

        return run_replicas_bench(args)
    if args.what == "batch":
        from bench.batch import run_batch_bench

        return run_batch_bench(args)
    if args.what == "diarize":
        from bench.diarize import run_diarize_bench

        return run_diarize_bench(settings, args)
    if args.what == "realtime":
        from bench.realtime import run_realtime_bench

        return run_realtime_bench(args)
    if args.what == "wyoming":
        from bench.wyoming import run_wyoming_bench

        return run_wyoming_bench(settings, args)
    if args.what == "voices":
        from bench.tts import run_voices_bench

        return run_voices_bench(settings, args)
    if args.what == "diacritizers":
        from bench.diacritizers import run_diacritizer_bench

        return run_diacritizer_bench(settings, args)
    if args.what == "tts":
        from bench.tts import run_tts_bench

        return run_tts_bench(settings, args)
    from bench.stt import run_stt_bench

    return run_stt_bench(settings, args)
