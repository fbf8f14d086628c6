"""Object ids, made one way: a prefix, a separator and random hex digits, as OpenAI's
(`file-` + 24, `batch_` + 24, `req_` + 26)."""

from __future__ import annotations

import secrets

REQUEST_ID_PREFIX = "req"
"""A request id is `req_` and 26 hex digits, as OpenAI's."""


def new_id(prefix: str, hex_digits: int = 24, separator: str = "_") -> str:
    """`prefix`, `separator` and `hex_digits` random hex digits."""
    return f"{prefix}{separator}{secrets.token_hex((hex_digits + 1) // 2)[:hex_digits]}"


def new_request_id() -> str:
    """An HTTP request's, or a batch line's, id."""
    return new_id(REQUEST_ID_PREFIX, 26)
