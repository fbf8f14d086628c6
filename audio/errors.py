"""Service errors, independent of the web framework.

Each maps to one row of the contract's error table; `audio.api.errors` turns
them into the `{"error": {...}}` envelope. The rooms raise their own errors;
`as_service_error` is the one place that says what each means to a client.
"""

from __future__ import annotations

from typing import Any

from common.errors import error_body
from jobs.errors import BytesMissing, JobError, NotFound, TooLarge
from transcriber.errors import Cancelled, ModelLoadFailed, ModelNotInstalled, UnknownModel


class ServiceError(Exception):
    """An error a client caused or can act on, with its HTTP status."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The contract's envelope of this error."""
        return error_body(self.message, self.error_type, self.param, self.code)


class InternalError(ServiceError):
    """500: something unexpected; the message names only the request (details are in the
    log)."""

    def __init__(self, request_id: str) -> None:
        super().__init__(f"Internal server error (request {request_id}).")


class InvalidRequest(ServiceError):
    """400: a missing field or a bad value."""

    status_code = 400
    error_type = "invalid_request_error"


class UndecodableAudio(InvalidRequest):
    """400: the upload is not a media file we can decode (Groq's wording)."""

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("could not process file - is it a valid media file?", param="file")
        self.detail = detail


class AuthenticationError(ServiceError):
    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class ModelNotFound(ServiceError):
    status_code = 404
    error_type = "invalid_request_error"
    code = "model_not_found"

    def __init__(self, model: str) -> None:
        shown = model if len(model) <= 128 else model[:125] + "..."
        super().__init__(
            f"The model `{shown}` does not exist or you do not have access to it.",
            param="model",
        )


class NotFoundError(ServiceError):
    """404: no such file or batch."""

    status_code = 404
    error_type = "invalid_request_error"
    code = "not_found"


class FilesUnavailable(ServiceError):
    """500: a stored file's bytes are not where the database says (a deployment fault:
    the replicas do not share one files directory); the message says which file."""

    code = "file_bytes_missing"


class OverLimit(ServiceError):
    """413: a stored file or a batch over its size or count limit."""

    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"


class RequestTooLarge(ServiceError):
    status_code = 413
    error_type = "invalid_request_error"
    code = "request_too_large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"Request body too large: the limit is {limit_bytes} bytes "
            f"({limit_bytes / 1_000_000:g} MB).",
            param="file",
        )


class RetryLater(ServiceError):
    """503 that a retry can cure (the SDKs retry it after `retry-after`)."""

    status_code = 503
    message_text = "Retry after the time in the retry-after header."

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__(self.message_text, retry_after=retry_after)


class Overloaded(RetryLater):
    """503: the bounded inference queue is full."""

    code = "overloaded"
    message_text = "The server is at capacity; retry after the time in the retry-after header."


class RateLimited(ServiceError):
    """429: a client's budget is spent until its window resets (retry-after says when)."""

    status_code = 429
    error_type = "rate_limit_exceeded"
    code = "rate_limit_exceeded"

    def __init__(self, budget: str, retry_after: int) -> None:
        super().__init__(
            f"Rate limit reached for {budget}: try again in {retry_after} s.",
            retry_after=retry_after,
        )


class ShuttingDown(RetryLater):
    """503: the server is draining after SIGTERM; another replica (or a retry) serves it."""

    code = "shutting_down"
    message_text = "The server is shutting down and takes no new requests; retry."


class InsufficientStorage(RetryLater):
    """503: no disk space to spool a long upload's decoded audio."""

    code = "insufficient_storage"
    message_text = (
        "The server has no disk space left to hold this audio while it is transcribed; retry later."
    )


class ModelUnavailable(ServiceError):
    """503: a known model whose weights are not installed."""

    status_code = 503
    code = "model_unavailable"


class ClientDisconnected(ServiceError):
    """499 (nginx's convention): the client left; its queued work was dropped."""

    status_code = 499
    error_type = "invalid_request_error"
    code = "client_closed_request"

    def __init__(self) -> None:
        super().__init__("The client closed the request before it completed.")


def not_installed_message(model_id: str) -> str:
    return (
        f"The weights of model `{model_id}` are not installed on this server. "
        f"Install them with `speech-pipeline models pull {model_id}`, or map the id "
        f"to a local CT2 directory with SPEECH_STT__MODELS, or set "
        f"SPEECH_STT__FALLBACK_MODEL to serve it with an installed model."
    )


def as_service_error(exc: BaseException) -> ServiceError | None:
    """What a room's error means to a client; None for anything unexpected (a 500)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, UnknownModel):
        return ModelNotFound(exc.model_id)
    if isinstance(exc, ModelNotInstalled):
        return ModelUnavailable(exc.detail or not_installed_message(exc.model_id), param="model")
    if isinstance(exc, ModelLoadFailed):
        return ModelUnavailable(
            f"The weights of model `{exc.model_id}` are installed but failed to load on this "
            "server (the reason is in the server's log); other models are unaffected.",
            param="model",
        )
    if isinstance(exc, Cancelled):
        return ClientDisconnected()
    if isinstance(exc, JobError):
        kind = {NotFound: NotFoundError, TooLarge: OverLimit, BytesMissing: FilesUnavailable}.get(
            type(exc), InvalidRequest
        )
        return kind(exc.message, param=exc.param, code=exc.code)
    return None
