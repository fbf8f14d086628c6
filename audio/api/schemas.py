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
from audio.diarize_service import Reference
from audio.errors import InvalidRequest
from audio.fetch import decode_data_url
from audio.formats import GRANULARITIES, RESPONSE_FORMATS, SPEAKER_FORMATS, needs_segment_times
from audio.languages import LANGUAGES
from audio.settings import SttSettings
from diarizer.types import MAX_KNOWN_SPEAKERS, MAX_SPEAKERS
from segmenter.vad import VadOptions
from transcriber.types import ALGORITHMS, Algorithm, SttOptions, Task

MAX_REFERENCE_BYTES = 8 * 1024 * 1024
"""A reference clip's encoded size limit (10 s of 16-bit 48-kHz stereo WAV is 3.8 MB)."""
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
    diarize: bool = False
    """Find who spoke when: `response_format=diarized_json`, or the `diarize=true`
    extension with verbose_json, srt or vtt."""
    references: tuple[Reference, ...] = ()
    """`known_speaker_names[]` with their `known_speaker_references[]`."""
    min_speakers: int | None = None
    """Extension: at least this many speakers."""
    max_speakers: int | None = None
    """Extension: at most this many speakers."""

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


def _values(form: FormData, name: str) -> list[str | UploadFile]:
    """Every value of a list field, sent as `name[]` (the SDKs) or `name`."""
    return [v for key in (f"{name}[]", name) for v in form.getlist(key)]


def _granularities(form: FormData, response_format: str) -> frozenset[str]:
    values = _values(form, "timestamp_granularities")
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


def _list(form: FormData, name: str) -> list[str]:
    values = _values(form, name)
    if any(not isinstance(v, str) for v in values):
        raise InvalidRequest(f"`{name}[]` must be text fields", param=name)
    return [str(v) for v in values]


def _references(form: FormData) -> tuple[Reference, ...]:
    names = [n.strip() for n in _list(form, "known_speaker_names")]
    urls = [u.strip() for u in _list(form, "known_speaker_references")]
    if len(names) != len(urls):
        raise InvalidRequest(
            f"known_speaker_names[] ({len(names)}) and known_speaker_references[] "
            f"({len(urls)}) must have the same number of entries",
            param="known_speaker_names",
        )
    if len(names) > MAX_KNOWN_SPEAKERS:
        raise InvalidRequest(
            f"at most {MAX_KNOWN_SPEAKERS} known speakers are supported, got {len(names)}",
            param="known_speaker_names",
        )
    if any(not n or len(n) > 64 for n in names) or len(set(names)) != len(names):
        raise InvalidRequest(
            "known_speaker_names[] must be distinct, non-empty names of at most 64 characters",
            param="known_speaker_names",
        )
    refs = []
    for index, (name, url) in enumerate(zip(names, urls, strict=True)):
        param = f"known_speaker_references[{index}]"
        if not url.startswith("data:"):
            raise InvalidRequest(
                f"{param} must be a data: URL of an audio clip (data:audio/wav;base64,...)",
                param=param,
            )
        refs.append(Reference(name, decode_data_url(url, MAX_REFERENCE_BYTES, param)))
    return tuple(refs)


def _speaker_count(form: FormData, name: str) -> int | None:
    raw = (_text(form, name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SPEAKERS:
        raise InvalidRequest(
            f"{name} must be a whole number from 1 to {MAX_SPEAKERS}, got {raw!r}", param=name
        )
    return int(raw)


def _diarization(
    form: FormData, task: Task, response_format: str, prompt: str | None
) -> tuple[bool, tuple[Reference, ...], int | None, int | None]:
    """(diarize, references, min_speakers, max_speakers), checked as OpenAI checks them."""
    diarize = response_format == "diarized_json" or (
        _bool(form, "diarize") and response_format in SPEAKER_FORMATS
    )
    references = _references(form)
    low, high = _speaker_count(form, "min_speakers"), _speaker_count(form, "max_speakers")
    if not diarize:
        if references:
            raise InvalidRequest(
                "known speakers need response_format=diarized_json (or diarize=true with "
                "verbose_json, srt or vtt)",
                param="known_speaker_names",
            )
        return False, (), None, None
    if task == "translate":
        raise InvalidRequest(
            "diarization is available on /audio/transcriptions, not on translations",
            param="response_format",
        )
    if prompt:
        raise InvalidRequest("prompt is not supported with diarization", param="prompt")
    if low is not None and high is not None and low > high:
        raise InvalidRequest(
            f"min_speakers ({low}) is larger than max_speakers ({high})", param="min_speakers"
        )
    return True, references, low, high


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
    diarize, references, min_speakers, max_speakers = _diarization(
        form, task, response_format, prompt
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
        diarize=diarize,
        references=references,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
    )
