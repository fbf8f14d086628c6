"""Reading Wyoming events with every length bounded (the `wyoming` library's reader
trusts the lengths a client declares), and the errors a connection answers with."""

from __future__ import annotations

import asyncio
import json

from wyoming.event import Event

MAX_HEADER_BYTES = 64 * 1024
"""Longest JSON header line."""
MAX_DATA_BYTES = 64 * 1024
"""Largest `data` block after the header."""
DISCARD_STEP = 64 * 1024


class WyomingInputError(Exception):
    """Something a client sent that the connection answers with an `error` event."""

    def __init__(self, text: str, code: str) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


async def read_event(reader: asyncio.StreamReader, max_payload: int) -> Event | None:
    """The next event; None at the end of the stream. A payload over `max_payload` is read
    and dropped (so the stream stays in step) and refused with WyomingInputError."""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as exc:
        raise WyomingInputError("an event header is over 64 KiB", "header_too_large") from exc
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WyomingInputError("an event header is not JSON", "invalid_event") from exc
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise WyomingInputError("an event needs a JSON header with a `type`", "invalid_event")
    given = header.get("data")
    data: dict[str, object] = given if isinstance(given, dict) else {}
    data_length = _length(header, "data_length", MAX_DATA_BYTES)
    if data_length:
        extra = await reader.readexactly(data_length)
        try:
            merged = json.loads(extra)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise WyomingInputError("an event's data is not JSON", "invalid_event") from exc
        if isinstance(merged, dict):
            data = {**data, **merged}
    payload_length = _length(header, "payload_length", None)
    if payload_length > max_payload:
        await _discard(reader, payload_length)
        raise WyomingInputError(
            f"a payload of {payload_length} bytes is over this server's {max_payload}",
            "payload_too_large",
        )
    payload = await reader.readexactly(payload_length) if payload_length else None
    return Event(type=header["type"], data=data, payload=payload)


def _length(header: dict[str, object], name: str, limit: int | None) -> int:
    value = header.get(name) or 0
    if not isinstance(value, int) or value < 0:
        raise WyomingInputError(f"`{name}` must be a whole number of bytes", "invalid_event")
    if limit is not None and value > limit:
        raise WyomingInputError(f"`{name}` is over {limit} bytes", "data_too_large")
    return value


async def _discard(reader: asyncio.StreamReader, length: int) -> None:
    while length > 0:
        chunk = await reader.read(min(DISCARD_STEP, length))
        if not chunk:
            return
        length -= len(chunk)
