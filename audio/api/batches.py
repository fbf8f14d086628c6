"""The Files and Batches APIs (Groq's and OpenAI's shapes) over the job store."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile

from audio.api.deps import API_DEPENDENCIES, ProjectDep, SettingsDep
from audio.api.openapi import API_ERRORS, error_responses
from audio.errors import InvalidRequest
from jobs.input import check_endpoint, parse_lines
from jobs.runner import BatchRunner
from jobs.store import JobStore
from jobs.types import ACTIVE, MAX_LINES, Batch, Order, Page

router = APIRouter(dependencies=API_DEPENDENCIES)

PURPOSES = ("batch", "batch_output", "user_data", "assistants", "fine-tune", "vision", "evals")
"""OpenAI's file purposes (only `batch` inputs are read by this server)."""
WINDOW = re.compile(r"^(\d+)([hd])$")
MAX_WINDOW_SECONDS = 7 * 24 * 3600
MAX_METADATA_KEYS = 16
ERRORS = error_responses(*API_ERRORS, 404)
MAX_FILES_PAGE, MAX_BATCHES_PAGE, DEFAULT_BATCHES_PAGE = 10_000, 100, 20
"""OpenAI's page sizes: files 1-10,000 (default all 10,000), batches 1-100 (default 20)."""


def get_store(request: Request) -> JobStore:
    store: JobStore = request.app.state.jobs
    return store


def get_runner(request: Request) -> BatchRunner:
    runner: BatchRunner = request.app.state.batch_runner
    return runner


StoreDep = Annotated[JobStore, Depends(get_store)]
RunnerDep = Annotated[BatchRunner, Depends(get_runner)]


def _listing(page: Page[Any]) -> dict[str, Any]:
    data = [item.json() for item in page.data]
    return {
        "object": "list", "data": data, "has_more": page.has_more,
        "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None,
    }  # fmt: skip


@router.post("/files", summary="Upload a file (a batch's JSONL, or audio it names)",
             responses=ERRORS)  # fmt: skip
async def create_file(
    request: Request, store: StoreDep, settings: SettingsDep, project: ProjectDep
) -> dict[str, Any]:
    form = await request.form(max_files=1, max_fields=8)
    try:
        upload = form.get("file")
        purpose = form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise InvalidRequest("`file` must be an uploaded file", param="file")
        if not isinstance(purpose, str) or purpose not in PURPOSES:
            raise InvalidRequest(f"purpose must be one of {list(PURPOSES)}", param="purpose")
        upload.file.seek(0)
        stored = await asyncio.to_thread(
            store.add_file, project, purpose, upload.filename or "upload", upload.file,
            settings.batch.max_file_bytes,
        )  # fmt: skip
    finally:
        await form.close()
    return stored.json()


@router.get("/files", summary="List the project's files, newest first", responses=ERRORS)
async def list_files(
    store: StoreDep, project: ProjectDep, purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FILES_PAGE)] = MAX_FILES_PAGE,
    after: str | None = None, order: Order = "desc",
) -> dict[str, Any]:  # fmt: skip
    page = await asyncio.to_thread(store.files, project, purpose, limit, after, order)
    return _listing(page)


@router.get("/files/{file_id}", summary="A file's metadata", responses=ERRORS)
async def retrieve_file(file_id: str, store: StoreDep, project: ProjectDep) -> dict[str, Any]:
    return (await asyncio.to_thread(store.file, file_id, project)).json()


@router.get("/files/{file_id}/content", summary="A file's bytes", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}, **ERRORS})  # fmt: skip
async def file_content(file_id: str, store: StoreDep, project: ProjectDep) -> Response:
    path = await asyncio.to_thread(store.path, file_id, project)
    return FileResponse(path, media_type="application/octet-stream")


@router.delete("/files/{file_id}", summary="Delete a file", responses=ERRORS)
async def delete_file(file_id: str, store: StoreDep, project: ProjectDep) -> dict[str, Any]:
    await asyncio.to_thread(store.delete_file, file_id, project)
    return {"id": file_id, "object": "file", "deleted": True}


class BatchBody(BaseModel):
    """`POST /batches` (HTTP schema; extras ignored)."""

    model_config = ConfigDict(extra="ignore")

    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = None


def _window_seconds(window: str) -> int:
    match = WINDOW.match(window)
    seconds = int(match[1]) * (3600 if match[2] == "h" else 86400) if match else 0
    if not 0 < seconds <= MAX_WINDOW_SECONDS:
        raise InvalidRequest(
            f"completion_window must be hours or days up to 7d (`24h`, `7d`), got {window!r}",
            param="completion_window",
        )
    return seconds


@router.post("/batches", summary="Create a batch from an uploaded JSONL file", responses=ERRORS)
async def create_batch(
    body: BatchBody, store: StoreDep, runner: RunnerDep, project: ProjectDep
) -> dict[str, Any]:
    endpoint = check_endpoint(body.endpoint)
    seconds = _window_seconds(body.completion_window)
    if body.metadata is not None and len(body.metadata) > MAX_METADATA_KEYS:
        raise InvalidRequest(f"metadata holds at most {MAX_METADATA_KEYS} keys", param="metadata")
    path = await asyncio.to_thread(store.path, body.input_file_id, project)

    def read() -> Any:
        with path.open("rb") as lines:
            return parse_lines(lines, endpoint, MAX_LINES)

    lines = await asyncio.to_thread(read)
    batch = await asyncio.to_thread(
        store.create_batch, project, endpoint, body.input_file_id, seconds,
        body.completion_window,
        body.metadata, lines,
    )  # fmt: skip
    runner.wake()
    return batch.json()


@router.get("/batches", summary="List the project's batches, newest first", responses=ERRORS)
async def list_batches(
    store: StoreDep, project: ProjectDep,
    limit: Annotated[int, Query(ge=1, le=MAX_BATCHES_PAGE)] = DEFAULT_BATCHES_PAGE,
    after: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return _listing(await asyncio.to_thread(store.batches, project, limit, after))


@router.get("/batches/{batch_id}", summary="A batch", responses=ERRORS)
async def retrieve_batch(batch_id: str, store: StoreDep, project: ProjectDep) -> dict[str, Any]:
    return (await asyncio.to_thread(store.batch, batch_id, project)).json()


@router.post("/batches/{batch_id}/cancel", summary="Cancel a batch (finished lines are kept)",
             responses=ERRORS)  # fmt: skip
async def cancel_batch(
    batch_id: str, store: StoreDep, runner: RunnerDep, project: ProjectDep
) -> dict[str, Any]:

    def cancel() -> Batch:
        batch = store.batch(batch_id, project)
        if batch.status in ("cancelling", "cancelled"):
            return batch
        if batch.status not in ACTIVE:
            raise InvalidRequest(
                f"Cannot cancel a batch with status {batch.status}.", param="batch_id"
            )
        return store.set_status(batch_id, "cancelling", only_from=("validating", "in_progress"))

    batch = await asyncio.to_thread(cancel)
    runner.wake()
    return batch.json()
