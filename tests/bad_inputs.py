"""The bad inputs a client can send, with what each must get back.

One list feeds both the tests (test_bad_input.py) and the README's table:
`python -m tests.bad_inputs` runs every case against a live server and prints
the Markdown table with the status and error body actually returned.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from .helpers import SAMPLES, wav_bytes

HELLO = (SAMPLES / "hello_en.wav").read_bytes()
MP3 = (SAMPLES / "weather_en.mp3").read_bytes()
TRANSCRIBE = "/openai/v1/audio/transcriptions"
TRANSLATE = "/openai/v1/audio/translations"


@dataclass(frozen=True)
class Case:
    name: str
    """What the client sends, in words (the README's first column)."""
    status: int
    """Expected HTTP status."""
    fields: dict[str, Any] = field(default_factory=lambda: {"model": "whisper-large-v3"})
    file: bytes | None = HELLO
    filename: str = "audio.wav"
    param: str | None = None
    """Expected `error.param`."""
    code: str | None = None
    """Expected `error.code`."""
    message_has: str = ""
    path: str = TRANSCRIBE
    raw_body: bytes | None = None
    content_type: str | None = None


def _model(**extra: Any) -> dict[str, Any]:
    return {"model": "whisper-large-v3", **extra}


CASES: list[Case] = [
    Case("empty file (0 bytes)", 400, file=b"", param="file", message_has="valid media file"),
    Case(
        "text file renamed .wav",
        400,
        file=b"just some text, not audio\n" * 20,
        param="file",
        message_has="valid media file",
    ),
    Case(
        "truncated mp3 (first 100 bytes)",
        400,
        file=MP3[:100],
        filename="a.mp3",
        param="file",
        message_has="valid media file",
    ),
    Case(
        "0.005 s of audio (WAV)",
        400,
        file=wav_bytes(np.zeros(80, np.float32)),
        param="file",
        message_has="too short",
    ),
    Case(
        "30 MB body",
        413,
        file=b"\0" * 30_000_000,
        param="file",
        code="request_too_large",
        message_has="25000000",
    ),
    Case(
        "unknown model",
        404,
        fields=_model(model="whisper-9000"),
        param="model",
        code="model_not_found",
        message_has="does not exist",
    ),
    Case("missing model", 400, fields={}, param="model"),
    Case("bad language (`xx`)", 400, fields=_model(language="xx"), param="language"),
    Case(
        "900-character prompt",
        400,
        fields=_model(prompt="a" * 900),
        param="prompt",
        message_has="896 characters or fewer, but provided prompt contains 900",
    ),
    Case("temperature 2", 400, fields=_model(temperature="2"), param="temperature"),
    Case("temperature `hot`", 400, fields=_model(temperature="hot"), param="temperature"),
    Case("response_format xyz", 400, fields=_model(response_format="xyz"), param="response_format"),
    Case(
        "json + timestamp_granularities[]=word",
        400,
        fields=_model(**{"timestamp_granularities[]": "word"}),
        param="timestamp_granularities",
    ),
    Case(
        "timestamp_granularities[]=char",
        400,
        fields=_model(response_format="verbose_json", **{"timestamp_granularities[]": "char"}),
        param="timestamp_granularities",
    ),
    Case(
        "url and file together",
        400,
        fields=_model(url="https://example.com/a.wav"),
        param="url",
        message_has="exactly one",
    ),
    Case("neither url nor file", 400, file=None, param="file"),
    Case(
        "url=http://169.254.169.254/ (cloud metadata)",
        400,
        fields=_model(url="http://169.254.169.254/latest/meta-data/"),
        file=None,
        param="url",
    ),
    Case(
        "url=http://127.0.0.1:1/ (loopback)",
        400,
        fields=_model(url="http://127.0.0.1:1/"),
        file=None,
        param="url",
    ),
    Case(
        "url=file:///etc/passwd",
        400,
        fields=_model(url="file:///etc/passwd"),
        file=None,
        param="url",
    ),
    Case(
        "url=data: with bad base64",
        400,
        fields=_model(url="data:audio/wav;base64,!!!"),
        file=None,
        param="url",
    ),
    Case(
        "stream=true with an empty file",
        400,
        fields=_model(stream="true"),
        file=b"",
        param="file",
        message_has="valid media file",
    ),
    Case("stream=maybe", 400, fields=_model(stream="maybe"), param="stream"),
    Case(
        "JSON body instead of a form",
        400,
        file=None,
        raw_body=b'{"model": "whisper-1"}',
        content_type="application/json",
        param="model",
    ),
    Case("translation of an empty file", 400, file=b"", path=TRANSLATE, param="file"),
]


SPEECH_CASES: list[tuple[str, dict[str, object], int, str | None]] = [
    ("empty input", {"input": ""}, 400, "input"),
    ("whitespace-only input", {"input": "   "}, 400, "input"),
    ("10,001 characters", {"input": "a" * 10_001}, 400, "input"),
    ("unknown voice", {"voice": "Nobody-PlayAI"}, 400, "voice"),
    ("English voice on the Arabic model", {"model": "playai-tts-arabic"}, 400, "voice"),
    ("Arabic voice on the English model", {"voice": "Amira-PlayAI"}, 400, "voice"),
    ("voice `../../etc/passwd`", {"voice": "../../etc/passwd"}, 400, "voice"),
    ("sample_rate=12345", {"sample_rate": 12345}, 400, "sample_rate"),
    ("speed=0", {"speed": 0}, 400, "speed"),
    ("speed=5.5", {"speed": 5.5}, 400, "speed"),
    ("response_format=xyz", {"response_format": "xyz"}, 400, "response_format"),
    ("stream_format=video", {"stream_format": "video"}, 400, "stream_format"),
    ("speed=`fast` (wrong type)", {"speed": "fast"}, 400, "speed"),
    ("missing voice", {"voice": None}, 400, "voice"),
    ("unknown model", {"model": "tts-9"}, 404, "model"),
]


def speech_case_body(fields: dict[str, object]) -> dict[str, object]:
    body: dict[str, object] = {"model": "playai-tts", "voice": "Fritz-PlayAI", "input": "Hi."}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


def send(client: httpx.Client, case: Case) -> httpx.Response:
    if case.raw_body is not None:
        headers = {"content-type": case.content_type or "application/octet-stream"}
        return client.post(case.path, content=case.raw_body, headers=headers)
    files = None
    if case.file is not None:
        files = {"file": (case.filename, io.BytesIO(case.file), "application/octet-stream")}
    return client.post(case.path, data=case.fields, files=files)


def _row(name: str, response: httpx.Response) -> str:
    body = response.text.replace("|", "\\|")
    if len(body) > 220:
        body = body[:217] + "..."
    return f"| {name} | {response.status_code} | `` {body} `` |"


def markdown_table(base_url: str) -> str:
    rows = ["| input | status | error body |", "|---|---|---|"]
    with httpx.Client(base_url=base_url, timeout=120) as client:
        rows += [_row(case.name, send(client, case)) for case in CASES]
    return "\n".join(rows)


def speech_markdown_table(base_url: str) -> str:
    rows = ["| input (POST /v1/audio/speech) | status | error body |", "|---|---|---|"]
    with httpx.Client(base_url=base_url, timeout=120) as client:
        for name, fields, _status, _param in SPEECH_CASES:
            rows.append(_row(name, client.post("/v1/audio/speech", json=speech_case_body(fields))))
    return "\n".join(rows)


if __name__ == "__main__":
    import tempfile
    from pathlib import Path

    from audio.settings import Settings, SttSettings

    from .helpers import live_server

    tmp = Path(tempfile.mkdtemp())
    settings = Settings(stt=SttSettings(fallback_model="whisper-base", hub_cache_dir=tmp / "hub"))
    with live_server(settings) as (url, _app):
        print(markdown_table(url))
        print()
        print(speech_markdown_table(url))
