"""What the OpenAPI schema says of each route, written from the same facts the routes use.

The transcription routes parse their multipart form by hand (`audio/services/request.py`),
so FastAPI cannot infer the request body: it is described here, truthfully, for clients, generators
and the schemathesis run in the test suite (`tests/service/test_fuzz.py`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from audio.media.encode import SPEECH_MEDIA_TYPES
from audio.media.formats import GRANULARITIES, RESPONSE_FORMATS, TRANSCRIPT_MEDIA_TYPES
from common.limits import MAX_PROMPT_CHARS
from diarizer.types import MAX_KNOWN_SPEAKERS, MAX_SPEAKERS
from transcriber.languages import LANGUAGES
from transcriber.types import ALGORITHMS

Schema = dict[str, Any]

ERROR_ENVELOPE: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
"""The contract's error body."""

_ERRORS = {
    400: "Invalid request: the message names the field",
    401: "Missing or wrong API key",
    404: "Unknown model",
    413: "Upload or fetched audio over the size limit",
    429: "Over a rate limit (`retry-after` says when to retry)",
    499: "The client closed the request before it was answered",
    500: "Internal error (no trace text)",
    503: "Overloaded, draining, model unavailable or disk full (`retry-after`)",
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` entries of these error statuses, each with the envelope."""
    return {
        code: {
            "description": _ERRORS[code],
            "content": {"application/json": {"schema": ERROR_ENVELOPE}},
        }
        for code in codes
    }


API_ERRORS = (400, 401, 413, 429, 500, 503)
"""What any API route can answer besides its success: bad input, key, body too large,
budget, fault, overload or drain."""

_SEGMENT: Schema = {
    "type": "object",
    "required": ["id", "start", "end", "text"],
    "properties": {
        "id": {"type": ["integer", "string"], "description": "`seg_N` in diarized_json"},
        "seek": {"type": "integer"},
        "speaker": {"type": "string"},
        "start": {"type": "number"},
        "end": {"type": "number"},
        "text": {"type": "string"},
        "tokens": {"type": "array", "items": {"type": "integer"}},
        "temperature": {"type": "number"},
        "avg_logprob": {"type": "number"},
        "compression_ratio": {"type": "number"},
        "no_speech_prob": {"type": "number"},
    },
}
_WORD: Schema = {
    "type": "object",
    "required": ["word", "start", "end"],
    "properties": {
        "word": {"type": "string"},
        "start": {"type": "number"},
        "end": {"type": "number"},
    },
}
_TRANSCRIPT_JSON: Schema = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "text": {"type": "string"},
        "task": {"type": "string", "enum": ["transcribe", "translate"]},
        "language": {"type": "string"},
        "duration": {"type": "number"},
        "segments": {"type": "array", "items": _SEGMENT},
        "words": {"type": "array", "items": _WORD},
        "usage": {"type": "object"},
        "x_groq": {"type": "object", "properties": {"id": {"type": "string"}}},
    },
}
"""`json` and `verbose_json` (the latter adds task, language, duration, segments, words)."""


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip()


def transcription_openapi() -> Schema:
    """`openapi_extra` of the transcription and translation routes."""
    form: Schema = {
        "type": "object",
        "required": ["model"],
        "anyOf": [{"required": ["file"]}, {"required": ["url"]}],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": "The audio (any format FFmpeg reads). One of file or url.",
            },
            "url": {"type": "string", "description": "Groq's alternative to `file`."},
            "model": {"type": "string", "minLength": 1},
            "language": {"type": "string", "enum": sorted(LANGUAGES)},
            "prompt": {"type": "string", "maxLength": MAX_PROMPT_CHARS},
            "response_format": {"type": "string", "enum": list(RESPONSE_FORMATS)},
            "temperature": {"type": "number", "minimum": 0, "maximum": 1},
            "timestamp_granularities[]": {
                "type": "array",
                "items": {"type": "string", "enum": list(GRANULARITIES)},
            },
            "stream": {"type": "boolean"},
            "algorithm": {"type": "string", "enum": list(ALGORITHMS)},
            "chunking_strategy": {
                "type": "string",
                "description": "`auto`, or a JSON server_vad object "
                "(threshold, prefix_padding_ms, silence_duration_ms).",
            },
            "known_speaker_names[]": {
                "type": "array",
                "maxItems": MAX_KNOWN_SPEAKERS,
                "items": {"type": "string", "minLength": 1, "maxLength": 64},
            },
            "known_speaker_references[]": {
                "type": "array",
                "maxItems": MAX_KNOWN_SPEAKERS,
                "items": {"type": "string", "description": "data: URL of a 2-10 s clip"},
            },
            "diarize": {
                "type": "boolean",
                "description": "Extension: speakers in verbose_json, srt and vtt.",
            },
            "min_speakers": {"type": "integer", "minimum": 1, "maximum": MAX_SPEAKERS},
            "max_speakers": {"type": "integer", "minimum": 1, "maximum": MAX_SPEAKERS},
        },
        "additionalProperties": True,
    }
    ok: dict[str, Schema] = {"text/event-stream": {"schema": {"type": "string"}}}
    for content_type in TRANSCRIPT_MEDIA_TYPES.values():
        schema = _TRANSCRIPT_JSON if "json" in content_type else {"type": "string"}
        ok[_media_type(content_type)] = {"schema": schema}
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": form}},
        },
        "responses": {"200": {"description": "The transcript", "content": ok}},
    }


def speech_responses() -> dict[int | str, dict[str, Any]]:
    """`responses` of the speech route: the audio in each format, or SSE events."""
    content: dict[str, Schema] = {
        _media_type(t): {"schema": {"type": "string", "format": "binary"}}
        for t in SPEECH_MEDIA_TYPES.values()
    }
    content["text/event-stream"] = {"schema": {"type": "string"}}
    return {200: {"description": "The speech audio", "content": content}}


def install(app: FastAPI) -> None:
    """Drop FastAPI's automatic 422 answers: a request it cannot validate gets the
    contract's 400 (`errors.py`), which every route already lists."""
    plain = app.openapi

    def openapi() -> Schema:
        if app.openapi_schema is None:
            schema = plain()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
