"""The contract's error body, built in one place for every way an error leaves the
service: an HTTP answer, an SSE `error` event, a batch line's result."""

from __future__ import annotations

from typing import Any


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """`{"error": {"message", "type", "param", "code"}}`, as OpenAI's and Groq's."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}
