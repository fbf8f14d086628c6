"""Errors of the speech-to-text room (the service maps them to HTTP statuses)."""

from __future__ import annotations


class TranscriberError(Exception):
    """Something the caller of the STT room can act on."""


class UnknownModel(TranscriberError):
    """No model or alias has this id."""

    def __init__(self, model_id: str) -> None:
        super().__init__(f"unknown model {model_id!r}")
        self.model_id = model_id
        """The id as asked for."""


class ModelNotInstalled(TranscriberError):
    """A known model whose weights are not on this machine (nor a fallback's)."""

    def __init__(self, model_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"the weights of model {model_id!r} are not installed")
        self.model_id = model_id
        """The canonical id whose weights are missing."""
        self.detail = detail
        """What exactly is missing, when known (a directory without model.bin)."""


class ModelLoadFailed(TranscriberError):
    """A model's weights are present but would not load (corrupt, wrong format, no memory)."""

    def __init__(self, model_id: str, reason: str) -> None:
        super().__init__(f"model {model_id!r} failed to load: {reason}")
        self.model_id = model_id
        """The canonical id."""
        self.reason = reason
        """What the loader said (for the server's log, not the client)."""


class Cancelled(TranscriberError):
    """The request's cancel event was set (its client left); queued windows were dropped."""
