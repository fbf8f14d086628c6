"""The rules of a batch input file (JSONL), checked before a batch is created."""

from __future__ import annotations

import json
from collections.abc import Iterable

from jobs.errors import InvalidInput, TooLarge
from jobs.types import ENDPOINTS, MAX_LINES, Line

MAX_CUSTOM_ID_CHARS = 512


def canonical_endpoint(endpoint: str) -> str:
    """`/v1/...`, whether written with Groq's `/openai/v1` prefix or OpenAI's `/v1`."""
    path = endpoint.strip()
    if path.startswith("/openai/v1/"):
        path = path[len("/openai") :]
    return path


def check_endpoint(endpoint: str) -> str:
    path = canonical_endpoint(endpoint)
    if path not in ENDPOINTS:
        raise InvalidInput(
            f"endpoint must be one of {list(ENDPOINTS)}, got {endpoint!r}", "endpoint"
        )
    return path


def parse_lines(
    raw_lines: Iterable[bytes], endpoint: str, max_lines: int = MAX_LINES
) -> list[Line]:
    """Every request of an input file, or the first reason the file cannot be a batch
    (naming its line): not JSON, not an object, no `custom_id`, a repeated `custom_id`,
    another method or endpoint, no `body` object, too many lines, no line at all."""
    lines: list[Line] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        if len(lines) >= max_lines:
            raise TooLarge(f"a batch holds at most {max_lines} requests", "input_file_id")
        where = f"line {number}"
        try:
            request = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{where} is not valid JSON", "input_file_id") from exc
        if not isinstance(request, dict):
            raise InvalidInput(f"{where} is not a JSON object", "input_file_id")
        custom_id = request.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID_CHARS:
            raise InvalidInput(f"{where}: `custom_id` must be a non-empty string", "input_file_id")
        if custom_id in seen:
            raise InvalidInput(
                f"{where}: custom_id {custom_id!r} is already used on line {seen[custom_id]}; "
                "each request needs its own",
                "input_file_id",
            )
        seen[custom_id] = number
        method = request.get("method", "POST")
        if method != "POST":
            raise InvalidInput(f"{where}: method must be POST, got {method!r}", "input_file_id")
        url = request.get("url")
        if not isinstance(url, str) or canonical_endpoint(url) != endpoint:
            raise InvalidInput(
                f"{where}: url {url!r} is not this batch's endpoint {endpoint}", "input_file_id"
            )
        body = request.get("body")
        if not isinstance(body, dict):
            raise InvalidInput(f"{where}: `body` must be a JSON object", "input_file_id")
        lines.append(Line(len(lines), custom_id, body))
    if not lines:
        raise InvalidInput("the input file holds no requests", "input_file_id")
    return lines
