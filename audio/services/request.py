"""The one transcription request, whatever it arrives as.

An HTTP form, a batch line's body, the CLI's flags and a manifest row all become
`Fields` (a flat multi-map of text values and at most one upload), are parsed and
validated once by `parse_request`, and turned into engine options in one place,
`TranscriptionRequest.options`. Every problem is the contract's 400 with the field
named; unknown fields are ignored, as OpenAI's routes ignore them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from audio.errors import InvalidRequest
from audio.media.fetch import decode_data_url
from audio.media.formats import (
    GRANULARITIES,
    RESPONSE_FORMATS,
    SPEAKER_FORMATS,
    needs_segment_times,
)
from audio.settings import SttSettings
from common.limits import MAX_PROMPT_CHARS
from diarizer.types import MAX_KNOWN_SPEAKERS, MAX_SPEAKERS
from segmenter.vad import VadOptions
from transcriber.languages import LANGUAGES
from transcriber.types import ALGORITHMS, Algorithm, SttOptions, Task

MAX_REFERENCE_BYTES = 8 * 1024 * 1024
"""A reference clip's encoded size limit (10 s of 16-bit 48-kHz stereo WAV is 3.8 MB)."""
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True)
class Reference:
    """A known speaker as sent: a name and an encoded clip of their voice."""

    name: str
    """`known_speaker_names[i]`."""
    audio: bytes
    """`known_speaker_references[i]`, decoded from its data URL."""


class Upload(Protocol):
    """An uploaded file, as the HTTP layer hands it over."""

    @property
    def filename(self) -> str | None: ...

    @property
    def file(self) -> BinaryIO: ...


Value = str | Upload


class Fields:
    """A request's fields: name -> values in the order sent (`name[]` for lists, as the
    SDKs send them; `name[key]` for a nested object's fields)."""

    def __init__(self, items: Iterable[tuple[str, Value]]) -> None:
        self._items = list(items)

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> Fields:
        """A JSON object (a batch line's body, a manifest row, the CLI's flags): lists
        become repeated `name[]` fields, objects JSON text, booleans `true`/`false`, and
        None is left out."""
        items: list[tuple[str, Value]] = []
        for key, value in body.items():
            values = value if isinstance(value, list) else [value]
            name = f"{key}[]" if isinstance(value, list) and not key.endswith("[]") else key
            for item in values:
                if item is None:
                    continue
                text = json.dumps(item) if isinstance(item, dict) else str(item)
                items.append((name, text.lower() if isinstance(item, bool) else text))
        return cls(items)

    def get(self, name: str) -> Value | None:
        return next((value for key, value in self._items if key == name), None)

    def getlist(self, name: str) -> list[Value]:
        return [value for key, value in self._items if key == name]

    def multi_items(self) -> list[tuple[str, Value]]:
        return list(self._items)


@dataclass(frozen=True)
class TranscriptionRequest:
    """A validated transcription or translation form."""

    task: Task
    """From the route."""
    model: str
    """Model id as sent."""
    file: Upload | None
    """The upload, or None when `url` (or the CLI's path) is given."""
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

    def options(self, stt: SttSettings) -> SttOptions:
        """Decoding options: this request's, the server's defaults for the rest (the
        only place a transcription request's options are made)."""
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
            vad=self.vad or default_vad(stt),
        )

    def media(self) -> BinaryIO:
        assert self.file is not None
        self.file.file.seek(0)
        return self.file.file

    @property
    def speaker_hints(self) -> tuple[int | None, int | None]:
        """(min_speakers, max_speakers)."""
        return self.min_speakers, self.max_speakers


def default_vad(stt: SttSettings) -> VadOptions:
    """The server's VAD (`SPEECH_STT__VAD_*`), for requests that do not set their own."""
    return VadOptions(stt.vad_threshold, stt.vad_silence_ms, stt.vad_padding_ms)


def turn_options(language: str | None, prompt: str | None, beam_size: int) -> SttOptions:
    """A realtime turn's options: its session's language and prompt, no VAD (the turn is
    speech already), no timestamps."""
    return SttOptions(
        language=language, prompt=prompt, beam_size=beam_size, vad_filter=False,
        segment_timestamps=False, algorithm="chunked",
    )  # fmt: skip


def warmup_options(algorithm: Algorithm) -> SttOptions:
    """The warm-up's options: English, each algorithm once."""
    return SttOptions(language="en", algorithm=algorithm, segment_timestamps=False)


def _text(form: Fields, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"`{name}` must be a text field, not a file", param=name)
    return value


def _bool(form: Fields, name: str) -> bool:
    raw = (_text(form, name) or "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise InvalidRequest(f"`{name}` must be true or false, got {raw!r}", param=name)


def _temperature(form: Fields) -> float:
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


def _values(form: Fields, name: str) -> list[str | Upload]:
    """Every value of a list field, sent as `name[]` (the SDKs) or `name`."""
    return [v for key in (f"{name}[]", name) for v in form.getlist(key)]


def _granularities(form: Fields, response_format: str) -> frozenset[str]:
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


def _language(form: Fields, task: Task) -> str | None:
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


def _source(form: Fields) -> tuple[Upload | None, str | None]:
    upload = form.get("file")
    url = _text(form, "url")
    if isinstance(upload, str):
        raise InvalidRequest("`file` must be an uploaded file", param="file")
    if upload is not None and url:
        raise InvalidRequest("send exactly one of `file` and `url`, not both", param="url")
    if upload is None and not url:
        raise InvalidRequest("one of `file` or `url` is required", param="file")
    return upload, url or None


def _algorithm(form: Fields) -> Algorithm | None:
    raw = (_text(form, "algorithm") or "").strip()
    if not raw:
        return None
    if raw not in ALGORITHMS:
        raise InvalidRequest(
            f"algorithm must be one of {list(ALGORITHMS)}, got {raw!r}", param="algorithm"
        )
    return next(a for a in ALGORITHMS if a == raw)


def _strategy_fields(form: Fields) -> dict[str, str] | None:
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


def _vad(form: Fields, default: VadOptions) -> VadOptions | None:
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


def _list(form: Fields, name: str) -> list[str]:
    values = _values(form, name)
    if any(not isinstance(v, str) for v in values):
        raise InvalidRequest(f"`{name}[]` must be text fields", param=name)
    return [str(v) for v in values]


def _references(form: Fields) -> tuple[Reference, ...]:
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


def _speaker_count(form: Fields, name: str) -> int | None:
    raw = (_text(form, name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SPEAKERS:
        raise InvalidRequest(
            f"{name} must be a whole number from 1 to {MAX_SPEAKERS}, got {raw!r}", param=name
        )
    return int(raw)


def _diarization(
    form: Fields, task: Task, response_format: str, prompt: str | None
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


def parse_request(
    form: Fields, task: Task, stt: SttSettings, needs_source: bool = True
) -> TranscriptionRequest:
    """The request these fields make, or InvalidRequest naming the first bad field.
    Without `needs_source` (the CLI and the folder batch name their file themselves),
    neither `file` nor `url` is asked for."""
    model = (_text(form, "model") or "").strip()
    if not model:
        raise InvalidRequest("`model` is required", param="model")
    upload, url = _source(form) if needs_source else (None, None)
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
        vad=_vad(form, default_vad(stt)),
        diarize=diarize,
        references=references,
        min_speakers=min_speakers,
        max_speakers=max_speakers,
    )
