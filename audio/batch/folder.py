"""`speech-pipeline batch DIR|manifest.jsonl --out results.jsonl`: a folder, not a server.

Every audio file under DIR (or each line of a manifest: `{"id", "path"}` plus any
transcription fields) is transcribed with the embedded engine in this process, `--jobs`
at a time through the shared batcher. Each result is appended to `--out` and flushed to
disk as it finishes, so a run stopped by Ctrl-C or a crash resumes where it was: files
with a result are skipped, files that failed are tried again. A file's error is
recorded in its result line and never stops the run. `--format` also writes each
transcript beside its audio (or under `--out-dir`, mirroring the folders).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from audio.errors import ServiceError, as_service_error
from audio.media.formats import render
from audio.services.request import Fields, parse_request
from audio.services.stt import SttService
from audio.settings import Settings
from transcriber.errors import TranscriberError
from transcriber.types import SttOptions, Task

AUDIO_SUFFIXES = frozenset({
    ".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4", ".mkv",
    ".mka", ".wma", ".aiff", ".aif", ".amr", ".3gp",
})  # fmt: skip
"""What a folder scan picks up (any FFmpeg input works from a manifest)."""
FORMATS = {"txt": "text", "srt": "srt", "vtt": "vtt", "json": "verbose_json"}
"""`--format` -> the transcript format written beside each file."""


@dataclass(frozen=True)
class Item:
    """One file to transcribe."""

    id: str
    """Its name in the results (the path relative to DIR, or the manifest's id)."""
    path: Path
    fields: dict[str, Any] = field(default_factory=dict)
    """Transcription fields from the manifest (language, prompt, ...)."""


def items(source: Path) -> list[Item]:
    """The files of a folder (sorted) or of a manifest."""
    if source.is_dir():
        return [
            Item(str(path.relative_to(source)), path)
            for path in sorted(source.rglob("*"))
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES
        ]
    found = []
    with source.open(encoding="utf-8") as manifest:
        for number, line in enumerate(manifest, start=1):
            if not line.strip():
                continue
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise ValueError(f"{source}:{number}: each line needs a `path`")
            path = (source.parent / entry.pop("path")).resolve()
            found.append(Item(str(entry.pop("id", path.name)), path, entry))
    return found


def finished(out: Path) -> set[str]:
    """Ids with a result (no error) in an earlier run's output."""
    done: set[str] = set()
    if out.exists():
        for line in out.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
            if isinstance(record, dict) and "error" not in record:
                done.add(str(record.get("id")))
    return done


class Progress:
    """One status line on stderr: files, audio hours, speed against real time, ETA."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total = total
        self.done = self.failed = 0
        self.audio_seconds = 0.0
        self.started = time.monotonic()
        self.stream = stream
        self.tty = stream.isatty()

    def update(self, seconds: float, ok: bool) -> None:
        self.done += 1
        self.failed += not ok
        self.audio_seconds += seconds
        wall = time.monotonic() - self.started
        speed = self.audio_seconds / wall if wall else 0.0
        left = (self.total - self.done) * wall / self.done if self.done else 0.0
        line = (
            f"files {self.done}/{self.total} ({self.failed} failed) · audio "
            f"{self.audio_seconds / 3600:.2f} h · {speed:.1f}x real time · ETA {left:.0f} s"
        )
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
        elif self.done == self.total or self.done % 10 == 0:
            self.stream.write(line + "\n")
        self.stream.flush()


def _options(settings: Settings, fields: dict[str, Any], response_format: str) -> SttOptions:
    """A manifest row's fields (language, prompt, `task`, ...) as the one request."""
    task: Task = "translate" if fields.get("task") == "translate" else "transcribe"
    body = {**fields, "model": "-", "response_format": response_format}
    request = parse_request(Fields.of(body), task, settings.stt, needs_source=False)
    return request.options(settings.stt)


def transcribe_item(
    stt: SttService, settings: Settings, item: Item, model: str, suffix: str | None,
    out_dir: str | None, source: str,
) -> dict[str, Any]:  # fmt: skip
    """One file's result record (its error, if it failed); with `suffix`, its transcript
    is also written beside it (or under `out_dir`)."""
    response_format = FORMATS[suffix] if suffix else "json"
    try:
        options = _options(settings, item.fields, response_format)
        transcript = stt.transcribe_now(str(item.path), model, options)
    except (ServiceError, TranscriberError, OSError) as exc:
        error = as_service_error(exc) if not isinstance(exc, OSError) else None
        message = error.message if error else f"{type(exc).__name__}: {exc}"
        return {"id": item.id, "path": str(item.path), "error": message}
    if suffix:
        rendered = render(transcript, response_format, frozenset({"segment"}), item.id)
        body = rendered.text if rendered.json is None else json.dumps(rendered.json)
        target = _beside(item, Path(source), out_dir, suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body or "", encoding="utf-8")
    return {
        "id": item.id, "path": str(item.path), "text": transcript.text,
        "language": transcript.language, "duration": round(transcript.duration, 3),
    }  # fmt: skip


def end_line(out: Path) -> None:
    """A crash can leave half a line: start the next record on a line of its own."""
    if out.exists() and out.stat().st_size:
        with out.open("rb+") as results:
            results.seek(-1, os.SEEK_END)
            if results.read(1) != b"\n":
                results.write(b"\n")


def _beside(item: Item, source: Path, out_dir: str | None, suffix: str) -> Path:
    name = item.path.with_suffix(f".{suffix}").name
    if out_dir is None:
        return item.path.with_name(name)
    relative = Path(item.id).parent if source.is_dir() else Path()
    return Path(out_dir) / relative / name
