"""The batch room's errors (the service shell maps them onto the contract's envelope)."""

from __future__ import annotations


class JobError(Exception):
    """A request about files or batches that cannot be honoured."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


class InvalidInput(JobError):
    """The input is wrong (a 400)."""


class NotFound(JobError):
    """No such file or batch (a 404)."""


class TooLarge(JobError):
    """Over a size or count limit (a 413)."""
