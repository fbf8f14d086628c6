"""`speech-pipeline batch`: a folder in, results out, resumable, errors recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import srt

from ..helpers import REFERENCES, SAMPLES, run_cli, wer

pytestmark = pytest.mark.slow


def _folder(root: Path) -> Path:
    audio = root / "archive"
    (audio / "day1").mkdir(parents=True)
    (audio / "day2").mkdir()
    shutil.copy(SAMPLES / "hello_en.wav", audio / "day1" / "a.wav")
    shutil.copy(SAMPLES / "weather_en.mp3", audio / "day1" / "b.mp3")
    shutil.copy(SAMPLES / "hello_en.wav", audio / "day2" / "c.wav")
    (audio / "day2" / "broken.mp3").write_bytes(b"not audio at all")
    (audio / "notes.txt").write_text("not picked up")
    return audio


def _results(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_folder_is_transcribed_with_srt_beside_and_errors_recorded(tmp_path: Path) -> None:
    audio = _folder(tmp_path)
    out = tmp_path / "results.jsonl"
    run = run_cli("batch", str(audio), "--out", str(out), "--format", "srt",
                  "--out-dir", str(tmp_path / "subs"))  # fmt: skip
    assert run.returncode == 0, run.stderr
    records = {r["id"]: r for r in _results(out)}
    assert set(records) == {"day1/a.wav", "day1/b.mp3", "day2/c.wav", "day2/broken.mp3"}
    assert "valid media file" in str(records["day2/broken.mp3"]["error"])
    hello = REFERENCES["hello_en.wav"]["text"]
    assert wer(hello, str(records["day1/a.wav"]["text"])) <= 0.1
    subtitles = list(srt.parse((tmp_path / "subs" / "day1" / "a.srt").read_text()))
    assert subtitles and wer(hello, " ".join(s.content for s in subtitles)) <= 0.1
    assert "files 4/4 (1 failed)" in run.stderr


def test_a_run_resumes_skipping_finished_files_and_retrying_failed_ones(tmp_path: Path) -> None:
    audio = _folder(tmp_path)
    out = tmp_path / "results.jsonl"
    earlier = [
        {"id": "day1/a.wav", "path": "x", "text": "from the first run", "duration": 4.8},
        {"id": "day1/b.mp3", "path": "x", "error": "it failed the first time"},
    ]
    out.write_text("".join(json.dumps(r) + "\n" for r in earlier) + '{"id": "day2/c.w')
    run = run_cli("batch", str(audio), "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "4 files; 1 already done" in run.stderr
    done = [r for r in _results_tolerant(out) if "error" not in r]
    ids = [r["id"] for r in done]
    assert sorted(ids) == ["day1/a.wav", "day1/b.mp3", "day2/c.wav"]  # each once
    assert next(r for r in done if r["id"] == "day1/a.wav")["text"] == "from the first run"


def _results_tolerant(path: Path) -> list[dict[str, object]]:
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def test_the_batch_command_honours_the_vad_settings(tmp_path: Path) -> None:
    """`speech-pipeline batch` (here and on Ray's actors, which run the same function)
    decodes with `SPEECH_STT__VAD_*`, as the server does; it used to pass neither field."""
    from audio.batch.folder import Item, transcribe_item
    from audio.errors import InvalidRequest
    from audio.settings import Settings, SttSettings
    from segmenter.vad import VadOptions

    stt = SttSettings(vad_threshold=0.3, vad_silence_ms=900, vad_padding_ms=50, vad_filter=False)
    seen = []

    class Recorder:
        def transcribe_now(self, media: object, model: str, options: object) -> None:
            seen.append(options)
            raise InvalidRequest("recorded")

    item = Item("a.wav", tmp_path / "a.wav", {"language": "en"})
    record = transcribe_item(Recorder(), Settings(stt=stt), item, "whisper-base", None, None,
                             str(tmp_path))  # type: ignore[arg-type]  # fmt: skip
    assert record["error"] == "recorded"
    (options,) = seen
    assert options.vad == VadOptions(threshold=0.3, silence_ms=900, padding_ms=50)
    assert options.vad_filter is False and options.language == "en"
