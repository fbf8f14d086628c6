"""The wire of a transcription session: client events parsed, server events built.

Two configuration shapes are understood (OpenAI's current one and the beta one); a field
left out of an update keeps its value, unknown fields are ignored, and a value that is
present but wrong is a SessionError naming it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from common.limits import MAX_PROMPT_CHARS
from realtime.errors import SessionError
from realtime.types import FORMAT_RATES, InputFormat, SessionConfig, Shape, TurnDetection

Event = dict[str, Any]

CURRENT_FORMATS: dict[str, InputFormat] = {
    "audio/pcm": "pcm16",
    "audio/pcmu": "g711_ulaw",
    "audio/pcma": "g711_alaw",
}
"""The current shape's `format.type` for each input format."""
BETA_FORMATS: tuple[InputFormat, ...] = ("pcm16", "g711_ulaw", "g711_alaw")
NOISE_REDUCTION = ("near_field", "far_field")
CONVERSATION_EVENTS = (
    "response.create", "response.cancel", "conversation.item.create",
    "conversation.item.delete", "conversation.item.truncate", "conversation.item.retrieve",
    "output_audio_buffer.clear",
)  # fmt: skip
"""Realtime conversation events, which a transcription session does not serve."""


def parse_frame(frame: str | bytes) -> Event:
    """One client frame: a JSON object with a string `type`."""
    try:
        event = json.loads(frame)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SessionError("the frame is not JSON", "invalid_json") from exc
    if not isinstance(event, dict):
        raise SessionError("an event must be a JSON object", "invalid_event")
    if not isinstance(event.get("type"), str):
        raise SessionError("an event needs a string `type`", "invalid_event", "type")
    return event


def _object(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SessionError(f"`{param}` must be an object", "invalid_value", param)
    return value


def _number(value: object, param: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise SessionError(
            f"`{param}` must be a number in [{low}, {high}], got {value!r}", "invalid_value", param
        )
    return float(value)


def _text(value: object, param: str, limit: int = 200) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise SessionError(
            f"`{param}` must be a string of at most {limit} characters", "invalid_value", param
        )
    return value.strip() or None


def _turn_detection(
    value: object, previous: TurnDetection | None, param: str
) -> TurnDetection | None:
    if value is None:
        return None
    fields = _object(value, param)
    kind = fields.get("type", "server_vad")
    if kind not in ("server_vad", "semantic_vad"):
        raise SessionError(
            f"`{param}.type` must be `server_vad` (or `semantic_vad`, served as server_vad), "
            f"got {kind!r}",
            "invalid_value",
            f"{param}.type",
        )
    base = previous or TurnDetection()
    threshold = fields.get("threshold")
    padding = fields.get("prefix_padding_ms")
    silence = fields.get("silence_duration_ms")
    return TurnDetection(
        threshold=base.threshold if threshold is None
        else _number(threshold, f"{param}.threshold", 0.01, 0.99),
        prefix_padding_ms=base.prefix_padding_ms if padding is None
        else int(_number(padding, f"{param}.prefix_padding_ms", 0, 5_000)),
        silence_duration_ms=base.silence_duration_ms if silence is None
        else int(_number(silence, f"{param}.silence_duration_ms", 100, 10_000)),
    )  # fmt: skip


def _transcription(value: object, config: SessionConfig, param: str) -> SessionConfig:
    if value is None:
        return config
    fields = _object(value, param)
    changes: dict[str, Any] = {}
    if "model" in fields:
        model = _text(fields["model"], f"{param}.model")
        if model is None:
            raise SessionError(
                f"`{param}.model` must not be empty", "invalid_value", f"{param}.model"
            )
        changes["model"] = model
    if "language" in fields:
        language = _text(fields["language"], f"{param}.language", 16)
        changes["language"] = language.lower() if language else None
    if "languages" in fields:  # gpt-transcribe's form: Whisper takes one, else detects
        languages = _texts(fields["languages"], f"{param}.languages")
        changes["language"] = languages[0].lower() if len(languages) == 1 else None
    if "prompt" in fields:
        changes["prompt"] = _text(fields["prompt"], f"{param}.prompt", MAX_PROMPT_CHARS)
    if fields.get("keywords"):  # words to expect: Whisper is biased by its prompt
        keywords = ", ".join(_texts(fields["keywords"], f"{param}.keywords"))
        prompt = changes.get("prompt", config.prompt)
        changes["prompt"] = (f"{prompt} {keywords}" if prompt else keywords)[:MAX_PROMPT_CHARS]
    return replace(config, **changes)


def _texts(value: object, param: str) -> list[str]:
    """A list of short strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SessionError(f"`{param}` must be a list of strings", "invalid_value", param)
    if len(value) > 100 or any(len(v) > 64 for v in value):
        raise SessionError(f"`{param}`: at most 100 entries of 64 characters", "invalid_value",
                           param)  # fmt: skip
    return list(value)


def _noise_reduction(value: object, param: str) -> str | None:
    if value is None:
        return None
    kind = _object(value, param).get("type")
    if kind not in NOISE_REDUCTION:
        raise SessionError(
            f"`{param}.type` must be one of {list(NOISE_REDUCTION)}, got {kind!r}",
            "invalid_value",
            f"{param}.type",
        )
    return str(kind)


def apply_update(event: Event, config: SessionConfig) -> tuple[SessionConfig, Shape]:
    """The configuration after a `session.update` or `transcription_session.update`."""
    session = _object(event.get("session"), "session")
    if event["type"] == "transcription_session.update":
        return _apply_beta(session, config), "beta"
    kind = session.get("type", "transcription")
    if kind != "transcription":
        raise SessionError(
            "this server serves transcription sessions: `session.type` must be "
            f"`transcription`, got {kind!r}",
            "invalid_value",
            "session.type",
        )
    audio = _object(session.get("audio", {}), "session.audio")
    source = _object(audio.get("input", {}), "session.audio.input")
    if "format" in source:
        config = replace(config, input_format=_current_format(source["format"]))
    fields = _apply_fields(
        source, config, "session.audio.input.", "transcription", "noise_reduction"
    )
    return fields, "current"


def _current_format(value: object) -> InputFormat:
    param = "session.audio.input.format"
    fields = _object(value, param)
    kind = fields.get("type")
    if kind not in CURRENT_FORMATS:
        raise SessionError(
            f"`{param}.type` must be one of {list(CURRENT_FORMATS)}, got {kind!r}",
            "invalid_value",
            f"{param}.type",
        )
    fmt = CURRENT_FORMATS[kind]
    rate = fields.get("rate", FORMAT_RATES[fmt])
    if rate != FORMAT_RATES[fmt]:
        raise SessionError(
            f"`{param}.rate` must be {FORMAT_RATES[fmt]} for {kind}, got {rate!r}",
            "invalid_value",
            f"{param}.rate",
        )
    return fmt


def _apply_beta(session: dict[str, Any], config: SessionConfig) -> SessionConfig:
    if "input_audio_format" in session:
        fmt = session["input_audio_format"]
        if fmt not in BETA_FORMATS:
            raise SessionError(
                f"`session.input_audio_format` must be one of {list(BETA_FORMATS)}, got {fmt!r}",
                "invalid_value",
                "session.input_audio_format",
            )
        config = replace(config, input_format=fmt)
    return _apply_fields(
        session, config, "session.", "input_audio_transcription", "input_audio_noise_reduction"
    )


def _apply_fields(
    fields: dict[str, Any], config: SessionConfig, prefix: str, transcription: str, noise: str
) -> SessionConfig:
    """What both shapes set alike, each under its own names (`prefix` names them in errors)."""
    config = _transcription(fields.get(transcription), config, prefix + transcription)
    if "turn_detection" in fields:
        detection = _turn_detection(
            fields["turn_detection"], config.turn_detection, prefix + "turn_detection"
        )
        config = replace(config, turn_detection=detection)
    if noise in fields:
        config = replace(config, noise_reduction=_noise_reduction(fields[noise], prefix + noise))
    return config


def _turn_detection_json(turn: TurnDetection | None) -> dict[str, Any] | None:
    if turn is None:
        return None
    return {
        "type": "server_vad",
        "threshold": turn.threshold,
        "prefix_padding_ms": turn.prefix_padding_ms,
        "silence_duration_ms": turn.silence_duration_ms,
    }


def _transcription_json(config: SessionConfig) -> dict[str, Any]:
    return {"model": config.model, "language": config.language, "prompt": config.prompt or ""}


def _noise_json(config: SessionConfig) -> dict[str, Any] | None:
    return {"type": config.noise_reduction} if config.noise_reduction else None


def session_object(session_id: str, config: SessionConfig, shape: Shape) -> dict[str, Any]:
    """The session as `session.created/updated` (or the beta events) carry it."""
    if shape == "beta":
        return {
            "id": session_id,
            "object": "realtime.transcription_session",
            "input_audio_format": config.input_format,
            "input_audio_transcription": _transcription_json(config),
            "turn_detection": _turn_detection_json(config.turn_detection),
            "input_audio_noise_reduction": _noise_json(config),
            "include": [],
            "modalities": ["text"],
        }
    fmt: dict[str, Any] = {
        "type": next(k for k, v in CURRENT_FORMATS.items() if v == config.input_format)
    }
    if config.input_format == "pcm16":
        fmt["rate"] = FORMAT_RATES["pcm16"]
    return {
        "type": "transcription",
        "id": session_id,
        "object": "realtime.transcription_session",
        "audio": {
            "input": {
                "format": fmt,
                "transcription": _transcription_json(config),
                "turn_detection": _turn_detection_json(config.turn_detection),
                "noise_reduction": _noise_json(config),
            }
        },
        "include": [],
    }


def error_event(error: SessionError, client_event_id: str | None = None) -> Event:
    """The `error` event, in the contract's envelope fields."""
    return {
        "type": "error",
        "error": {
            "type": error.error_type,
            "code": error.code,
            "message": error.message,
            "param": error.param,
            "event_id": client_event_id,
        },
    }


def session_event(session_id: str, config: SessionConfig, shape: Shape, updated: bool) -> Event:
    """`session.created`/`updated` (`transcription_session.*` for a beta client)."""
    prefix = "transcription_session" if shape == "beta" else "session"
    kind = f"{prefix}.{'updated' if updated else 'created'}"
    return {"type": kind, "session": session_object(session_id, config, shape)}


def speech_started(item_id: str, start_ms: int) -> Event:
    return {"type": "input_audio_buffer.speech_started", "audio_start_ms": start_ms,
            "item_id": item_id}  # fmt: skip


def speech_stopped(item_id: str, end_ms: int) -> Event:
    return {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end_ms,
            "item_id": item_id}  # fmt: skip


def committed(item_id: str, previous_item_id: str | None) -> Event:
    return {"type": "input_audio_buffer.committed", "previous_item_id": previous_item_id,
            "item_id": item_id}  # fmt: skip


def cleared() -> Event:
    return {"type": "input_audio_buffer.cleared"}


def transcript_delta(item_id: str, text: str) -> Event:
    return {"type": "conversation.item.input_audio_transcription.delta", "item_id": item_id,
            "content_index": 0, "delta": text, "logprobs": None}  # fmt: skip


def transcript_completed(item_id: str, text: str, language: str, seconds: float) -> Event:
    return {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": item_id, "content_index": 0, "transcript": text,
        "usage": {"type": "duration", "seconds": round(seconds, 3)},
        "languages": [{"code": language}], "logprobs": None,
    }  # fmt: skip


def transcript_failed(item_id: str, error: SessionError) -> Event:
    return {
        "type": "conversation.item.input_audio_transcription.failed",
        "item_id": item_id, "content_index": 0,
        "error": {"type": error.error_type, "code": error.code, "message": error.message,
                  "param": error.param},
    }  # fmt: skip
