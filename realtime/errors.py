"""The realtime room's errors: each becomes an `error` event; the session stays open."""

from __future__ import annotations


class SessionError(Exception):
    """A client event the session cannot take."""

    error_type = "invalid_request_error"

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


class ServerBusy(SessionError):
    """The server cannot take this work now (queue full, draining): try again later."""

    error_type = "server_error"
