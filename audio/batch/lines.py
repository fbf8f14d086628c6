"""The batch room's seam on the service: each line runs as the synchronous route would.

A line's body holds the route's form fields; its audio is `url` (http/https with the same
address policy as the route, or a `data:` URL), the id of a file uploaded to `/files`, or
a `file://` path under `SPEECH_BATCH__ALLOWED_ROOTS`. Lines run on the runner's threads,
straight into the STT engine, so they wait behind interactive requests in the batcher
rather than taking request workers.
"""

from __future__ import annotations

import asyncio
import io
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from audio.errors import InvalidRequest, ServiceError, as_service_error
from audio.media.fetch import FetchPolicy, fetch_url
from audio.media.formats import render
from audio.services.diarize import DiarizeService
from audio.services.request import Fields, parse_request
from audio.services.stt import SttService
from audio.settings import Settings
from common.ids import new_request_id
from jobs.errors import JobError
from jobs.store import JobStore
from jobs.types import Line, Outcome
from transcriber.errors import TranscriberError
from transcriber.types import Task

FILE_ID_PREFIX = "file-"


class BatchLines:
    """A `LineHandler` on the STT service."""

    def __init__(
        self, settings: Settings, stt: SttService, store: JobStore, diarize: DiarizeService
    ) -> None:
        self._settings = settings
        self._stt = stt
        self._diarize = diarize
        self._store = store
        self._roots = [root.resolve() for root in settings.batch.allowed_roots]

    def handle(self, endpoint: str, line: Line, project: str) -> Outcome:
        request_id = new_request_id()
        task: Task = "translate" if endpoint.endswith("/translations") else "transcribe"
        try:
            return Outcome(200, self._run(task, line, request_id, project), request_id)
        except JobError as exc:  # the audio it names: an unknown file id, a path refused
            error: ServiceError = InvalidRequest(exc.message, param=exc.param or "url",
                                                 code=exc.code)  # fmt: skip
        except (ServiceError, TranscriberError) as exc:
            known = as_service_error(exc)
            assert known is not None
            error = known
        return Outcome(error.status_code, error.body(), request_id)

    def _run(self, task: Task, line: Line, request_id: str, project: str) -> Any:
        stt, settings = self._stt, self._settings
        request = parse_request(Fields.of(line.body), task, settings.stt)
        if request.url is None:
            raise InvalidRequest("a batch line gives its audio as `url`", param="url")
        resolved = stt.resolve(request.model)
        options = replace(request.options(settings.stt), background=True)
        speakers = None
        with self._media(request.url, project) as media:
            if request.diarize:
                found = self._diarize.transcribe_now(
                    media, resolved.served, options,
                    self._diarize.options(request.min_speakers, request.max_speakers),
                    request.references,
                )  # fmt: skip
                transcript, speakers = found.transcript, found.segments
            else:
                transcript = stt.transcribe_now(media, resolved.served, options)
        rendered = render(
            transcript, request.response_format, request.granularities, request_id, speakers
        )
        return rendered.json if rendered.json is not None else rendered.text

    def _media(self, url: str, project: str) -> BinaryIO:
        """The audio a line names; a file id only of the batch's own project (another
        project's is as unknown as a made-up one)."""
        if url.startswith(FILE_ID_PREFIX):
            return self._store.path(url, project).open("rb")
        if url.startswith("file://"):
            return self._local(url).open("rb")
        policy = FetchPolicy.from_settings(self._settings)
        return io.BytesIO(asyncio.run(fetch_url(url, policy)))

    def _local(self, url: str) -> Path:
        """A `file://` path, only under an allowed root (symlinks resolved first)."""
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).resolve()
        if not any(path.is_relative_to(root) for root in self._roots):
            raise JobError(
                "url is not allowed: file:// paths must lie under a directory the operator "
                "allows (SPEECH_BATCH__ALLOWED_ROOTS)",
                "url",
            )
        if not path.is_file():
            raise JobError(f"url: no such file {path.name!r} under the allowed roots", "url")
        return path
