"""Types of the batch room: stored files, batches, lines, and the seam to the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

BatchStatus = Literal[
    "validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling",
    "cancelled",
]  # fmt: skip
ACTIVE: tuple[BatchStatus, ...] = ("validating", "in_progress", "finalizing", "cancelling")
"""Statuses the runner still has work for (a restart resumes them)."""
ENDPOINTS = ("/v1/audio/transcriptions", "/v1/audio/translations")
"""What a batch may call (Groq's and OpenAI's paths; `/openai/v1/...` is accepted too)."""
MAX_LINES = 50_000
"""OpenAI's and Groq's limit of requests per batch."""
Order = Literal["asc", "desc"]
"""A list's order by creation time (OpenAI's `order`)."""
T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, in its order."""

    data: list[T]
    """The objects of this page."""
    has_more: bool
    """Whether objects follow the last one (ask again with `after` = its id)."""


@dataclass(frozen=True)
class StoredFile:
    """A file of the Files API."""

    id: str
    """`file-...`."""
    purpose: str
    """`batch` (uploads), `batch_output` (results), or another purpose the client gave."""
    filename: str
    """The uploaded name."""
    bytes: int
    """Size."""
    created_at: int
    """Unix seconds."""
    expires_at: int | None
    """When retention deletes it."""

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "file", "bytes": self.bytes, "created_at": self.created_at,
            "filename": self.filename, "purpose": self.purpose, "status": "processed",
            "expires_at": self.expires_at, "status_details": None,
        }  # fmt: skip


@dataclass(frozen=True)
class Counts:
    """Lines of a batch by outcome."""

    total: int = 0
    completed: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Batch:
    """A batch, as OpenAI's `Batch` object shows it."""

    id: str
    project: str
    """The project that created it and alone may see it (not shown on the wire)."""
    endpoint: str
    input_file_id: str
    completion_window: str
    status: BatchStatus
    created_at: int
    expires_at: int
    counts: Counts
    metadata: dict[str, str] | None = None
    times: dict[str, int] = field(default_factory=dict)
    """`in_progress_at`, `finalizing_at`, `completed_at`, ... as they happened."""
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] | None = None
    """Why a batch failed as a whole."""

    def json(self) -> dict[str, Any]:
        stamps = ("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at",
                  "cancelling_at", "cancelled_at")  # fmt: skip
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id, "completion_window": self.completion_window,
            "status": self.status, "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id, "created_at": self.created_at,
            "expires_at": self.expires_at,
            **{name: self.times.get(name) for name in stamps},
            "request_counts": {"total": self.counts.total, "completed": self.counts.completed,
                               "failed": self.counts.failed},
            "metadata": self.metadata,
        }  # fmt: skip


@dataclass(frozen=True)
class Line:
    """One request of a batch."""

    index: int
    """Its line number in the input file, from 0."""
    custom_id: str
    body: dict[str, Any]
    """What the synchronous route takes (form fields; the audio as `url`)."""


@dataclass(frozen=True)
class Outcome:
    """What one line's request answered."""

    status_code: int
    body: dict[str, Any]
    request_id: str

    @property
    def ok(self) -> bool:
        return self.status_code < 400


class LineHandler(Protocol):
    """Runs one line as the synchronous route would (blocking; on a runner thread), on
    behalf of `project`, the batch's owner (a file id a line names must be its)."""

    def handle(self, endpoint: str, line: Line, project: str) -> Outcome: ...
