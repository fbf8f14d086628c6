"""HTTP request schema for transcriptions/translations, parsed from the form.

Parsed by hand (not FastAPI's Form params) so every problem is the contract's
400 with the field named, extras are ignored, and the upload's size is policed
by our middleware rather than read whole.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import BinaryIO

from starlette.datastructures import FormData, UploadFile

from audio.constants import MAX_PROMPT_CHARS
from audio.errors import InvalidRequest
from audio.formats import GRANULARITIES, RESPONSE_FORMATS, needs_segment_times
from audio.languages import LANGUAGES
from audio.settings import SttSettings
from segmenter.vad import VadOptions
from transcriber.types import ALGORITHMS, Algorithm, SttOptions, Task

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class TranscriptionRequest:
    """A validated transcription or translation form."""

    task: Task
    """From the route."""
    model: str
    """Model id as sent."""
    file: UploadFile | None
    """The upload, or None when `url` is given."""
    url: str | None
    """Groq's `url` alternative."""
    language: str | None
    """ISO-639-1; ignored for translations."""
    prompt: str | None
    response_format: str
    temperature: float
    granularities: frozenset[str]
    stream: bool
    algorithm: Algorithm | None
    """Extension: `chunked` or `sequential`; None takes the server default."""
    vad: VadOptions | None
    """From `chunking_strategy=server_vad` (None: the server's VAD defaults)."""

    def options(self, stt: SttSettings, vad: VadOptions) -> SttOptions:
        """Decoding options: this request's, the server's defaults for the rest."""
        return SttOptions(
            task=self.task,
            language=self.language if self.task == "transcribe" else None,
            prompt=self.prompt,
            temperature=self.temperature,
            word_timestamps="word" in self.granularities,
            segment_timestamps=needs_segment_times(self.response_format),
            beam_size=stt.beam_size,
            vad_filter=stt.vad_filter,
            algorithm=self.algorithm or stt.algorithm,
            vad=self.vad or vad,
        )

    def media(self) -> BinaryIO:
        assert self.file is not None
        self.file.file.seek(0)
        return self.file.file


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"`{name}` must be a text field, not a file", param=name)
    return value


def _bool(form: FormData, name: str) -> bool:
    raw = (_text(form, name) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidRequest(f"`{name}` must be true or false, got {raw!r}", param=name)


def _temperature(form: FormData) -> float:
    raw = _text(form, "temperature")
    if raw is None or raw.strip() == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise InvalidRequest(
            f"temperature must be a number between 0 and 1, got {raw!r}", param="temperature"
        )
    return value


def _granularities(form: FormData, response_format: str) -> frozenset[str]:
    values = [
        v
        for key in ("timestamp_granularities[]", "timestamp_granularities")
        for v in form.getlist(key)
    ]
    chosen: set[str] = set()
    for value in values:
        if not isinstance(value, str) or value not in GRANULARITIES:
            raise InvalidRequest(
                f"timestamp_granularities must be among {list(GRANULARITIES)}, got {value!r}",
                param="timestamp_granularities",
            )
        chosen.add(value)
    if "word" in chosen and response_format != "verbose_json":
        raise InvalidRequest(
            "timestamp_granularities=word requires response_format=verbose_json",
            param="timestamp_granularities",
        )
    if response_format == "verbose_json" and not chosen:
        chosen.add("segment")
    return frozenset(chosen)


def _language(form: FormData, task: Task) -> str | None:
    raw = _text(form, "language")
    if raw is None or raw.strip() == "":
        return None
    code = raw.strip().lower()
    if task == "translate":
        return None  # Groq documents only `en`; the groq SDK may send it: ignored.
    if code not in LANGUAGES:
        raise InvalidRequest(
            f"language {raw!r} is not supported; use an ISO-639-1 code such as "
            f"'en', 'de', 'ar' (supported: {', '.join(sorted(LANGUAGES))})",
            param="language",
        )
    return code


def _source(form: FormData) -> tuple[UploadFile | None, str | None]:
    upload = form.get("file")
    url = _text(form, "url")
    if isinstance(upload, str):
        raise InvalidRequest("`file` must be an uploaded file", param="file")
    if upload is not None and url:
        raise InvalidRequest("send exactly one of `file` and `url`, not both", param="url")
    if upload is None and not url:
        raise InvalidRequest("one of `file` or `url` is required", param="file")
    return upload, url or None


def _algorithm(form: FormData) -> Algorithm | None:
    raw = (_text(form, "algorithm") or "").strip()
    if not raw:
        return None
    if raw not in ALGORITHMS:
        raise InvalidRequest(
            f"algorithm must be one of {list(ALGORITHMS)}, got {raw!r}", param="algorithm"
        )
    return next(a for a in ALGORITHMS if a == raw)


def _strategy_fields(form: FormData) -> dict[str, str] | None:
    """`chunking_strategy` as the SDKs send it: `auto`, nested fields, or a JSON object."""
    nested = {
        key[len("chunking_strategy[") : -1]: value
        for key, value in form.multi_items()
        if key.startswith("chunking_strategy[") and isinstance(value, str)
    }
    if nested:
        return nested
    raw = (_text(form, "chunking_strategy") or "").strip()
    if not raw or raw == "auto":
        return None
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest(
            "chunking_strategy must be `auto` or a server_vad object", param="chunking_strategy"
        )
    return {str(k): str(v) for k, v in parsed.items()}


def _vad(form: FormData, default: VadOptions) -> VadOptions | None:
    fields = _strategy_fields(form)
    if fields is None:
        return None
    if fields.get("type", "server_vad") != "server_vad":
        raise InvalidRequest(
            "chunking_strategy type must be `server_vad`", param="chunking_strategy"
        )
    try:
        threshold = float(fields.get("threshold", default.threshold))
        silence = int(float(fields.get("silence_duration_ms", default.silence_ms)))
        padding = int(float(fields.get("prefix_padding_ms", default.padding_ms)))
    except ValueError as exc:
        raise InvalidRequest(
            "chunking_strategy fields must be numbers", param="chunking_strategy"
        ) from exc
    if not (0.0 < threshold < 1.0 and 0 <= silence <= 10_000 and 0 <= padding <= 5_000):
        raise InvalidRequest(
            "chunking_strategy: threshold must be in (0, 1), silence_duration_ms in "
            "[0, 10000], prefix_padding_ms in [0, 5000]",
            param="chunking_strategy",
        )
    return VadOptions(threshold=threshold, silence_ms=silence, padding_ms=padding)


def parse_transcription_form(
    form: FormData, task: Task, default_vad: VadOptions | None = None
) -> TranscriptionRequest:
    model = (_text(form, "model") or "").strip()
    if not model:
        raise InvalidRequest("`model` is required", param="model")
    upload, url = _source(form)
    response_format = (_text(form, "response_format") or "json").strip() or "json"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidRequest(
            f"response_format must be one of {list(RESPONSE_FORMATS)}, got {response_format!r}",
            param="response_format",
        )
    prompt = _text(form, "prompt")
    if prompt is not None and len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"prompt length must be {MAX_PROMPT_CHARS} characters or fewer, but provided "
            f"prompt contains {len(prompt)} characters",
            param="prompt",
        )
    return TranscriptionRequest(
        task=task,
        model=model,
        file=upload,
        url=url,
        language=_language(form, task),
        prompt=prompt or None,
        response_format=response_format,
        temperature=_temperature(form),
        granularities=_granularities(form, response_format),
        stream=_bool(form, "stream"),
        algorithm=_algorithm(form),
        vad=_vad(form, default_vad or VadOptions()),
    )
