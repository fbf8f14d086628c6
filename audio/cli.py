"""The `speech-pipeline` command: serve, transcribe, models, bench."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from audio.errors import ServiceError
from audio.formats import RESPONSE_FORMATS, render
from audio.registry import ModelRegistry
from audio.settings import Settings
from audio.stt import WhisperEngine
from audio.types import SttOptions


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from audio.app import create_app

    host = args.host or settings.host
    port = args.port or settings.port
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level)
    return 0


def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from audio.decode import decode_audio

    registry = ModelRegistry(settings.stt)
    model_id = args.model or settings.stt.default_model
    resolved = registry.resolve(model_id)
    if resolved.served != registry.canonical(model_id):
        print(f"note: {model_id} is not installed; using {resolved.served}", file=sys.stderr)
    samples = decode_audio(args.file, max_seconds=settings.limits.max_duration_seconds)
    options = SttOptions(
        task="translate" if args.translate else "transcribe",
        language=args.language,
        word_timestamps=args.format == "verbose_json",
        beam_size=settings.stt.beam_size,
        vad_filter=settings.stt.vad_filter,
    )
    transcript = WhisperEngine(registry.get(resolved.served)).transcribe(samples, options)
    granularities = frozenset({"segment", "word"}) if args.format == "verbose_json" else frozenset()
    rendered = render(transcript, args.format, granularities, "cli")
    if rendered.json is not None:
        print(json.dumps(rendered.json, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(rendered.text or "")
    return 0


def _models(args: argparse.Namespace, settings: Settings) -> int:
    registry = ModelRegistry(settings.stt)
    if args.action == "list":
        for model_id in registry.known_ids():
            info = registry.info(model_id)
            state = "installed" if info.installed else "not installed"
            alias = f" (alias of {info.alias_of})" if info.alias_of else ""
            print(f"{model_id:30s} {state:14s} {info.source}{alias}")
        return 0
    if not args.id:
        print("models pull needs a model id", file=sys.stderr)
        return 2
    path = registry.pull(args.id)
    print(f"{args.id}: {path}")
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    from audio.bench import run_bench

    return run_bench(settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="speech-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)

    tr = sub.add_parser("transcribe", help="transcribe (or translate) a file")
    tr.add_argument("file")
    tr.add_argument("--model")
    tr.add_argument("--language")
    tr.add_argument("--format", choices=RESPONSE_FORMATS, default="text")
    tr.add_argument("--translate", action="store_true", help="translate into English")
    tr.set_defaults(func=_transcribe)

    models = sub.add_parser("models", help="list or pull STT models")
    models.add_argument("action", choices=["list", "pull"])
    models.add_argument("id", nargs="?")
    models.set_defaults(func=_models)

    bench = sub.add_parser("bench", help="measure against stock faster-whisper")
    bench.add_argument("--output", default="BENCHMARKS.md", help="Markdown file to append to")
    bench.add_argument("--repeat", type=int, default=1)
    bench.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.func(args, settings)
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
