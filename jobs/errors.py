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


class BytesMissing(JobError):
    """A file's row is in the database but its bytes are not in this replica's files
    directory (a 500: the replicas do not mount one directory, or it changed underneath)."""


class FilesDirNotShared(Exception):
    """The store's database was first opened with another files directory: a replica
    that cannot see the files the others write refuses to start."""
