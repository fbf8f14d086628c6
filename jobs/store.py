"""The durable job store: embedded SQLite (WAL, full sync) and a directory of files.

A line's result is written with its counters in one transaction, so a crash loses no
finished line, and a restart finds every unfinished line still pending (none is run
twice to the output: the output and error files are written from the table once, when
the batch finalizes).

Every file and batch belongs to a project (a tenant). The methods a caller reaches take
the caller's project, and another project's id is `NotFound` in the very words an
unknown id gets, so a caller cannot learn that it exists. `ANY_PROJECT` is for the
runner and the reaper only.

A store written before projects existed (schema version 0) is upgraded when it opens:
its files and batches go to `legacy_project`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from common.ids import new_id
from jobs.errors import NotFound, TooLarge
from jobs.types import (
    ACTIVE,
    Batch,
    BatchStatus,
    Counts,
    Line,
    Order,
    Outcome,
    Page,
    StoredFile,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY, purpose TEXT NOT NULL, filename TEXT NOT NULL,
    bytes INTEGER NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER,
    project TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, input_file_id TEXT NOT NULL,
    completion_window TEXT NOT NULL, metadata TEXT, status TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, times TEXT NOT NULL,
    output_file_id TEXT, error_file_id TEXT, errors TEXT,
    total INTEGER NOT NULL, completed INTEGER NOT NULL, failed INTEGER NOT NULL,
    project TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS lines (
    batch_id TEXT NOT NULL, idx INTEGER NOT NULL, custom_id TEXT NOT NULL,
    body TEXT NOT NULL, state TEXT NOT NULL, status_code INTEGER, response TEXT,
    request_id TEXT, PRIMARY KEY (batch_id, idx)
);
CREATE INDEX IF NOT EXISTS pending ON lines (batch_id, state, idx);
CREATE INDEX IF NOT EXISTS files_by_project ON files (project, created_at);
CREATE INDEX IF NOT EXISTS batches_by_project ON batches (project, created_at);
"""
SCHEMA_VERSION = 1
"""`PRAGMA user_version` of a current store (0: written before projects existed)."""
COPY_CHUNK = 1 << 20
FILE_COLUMNS = "id, purpose, filename, bytes, created_at, expires_at"
BATCH_COLUMNS = (
    "id, endpoint, input_file_id, completion_window, metadata, status, created_at, "
    "expires_at, times, output_file_id, error_file_id, errors, total, completed, failed"
)
ANY_PROJECT = None
"""The project argument of the runner's and the reaper's own reads: every project."""


def new_file_id() -> str:
    """OpenAI's form: `file-` and 24 hex digits."""
    return new_id("file", separator="-")


class JobStore:
    """Files and batches on disk; safe to use from several threads."""

    def __init__(
        self, db_path: Path, files_dir: Path, retention_seconds: int, legacy_project: str
    ) -> None:
        files_dir.mkdir(parents=True, exist_ok=True)
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.files_dir = files_dir
        self.retention_seconds = retention_seconds
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._migrate(legacy_project)

    def _migrate(self, legacy_project: str) -> None:
        """Create the schema, or bring a store from before projects up to date (its rows
        go to `legacy_project`), in one transaction."""
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if version < 1 and "files" in tables:
                for table in ("files", "batches"):
                    db.execute(f"ALTER TABLE {table} ADD COLUMN project TEXT NOT NULL "
                               "DEFAULT ''")  # fmt: skip
                    db.execute(f"UPDATE {table} SET project = ?", (legacy_project,))
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- files ----------------------------------------------------------------------
    def add_file(
        self, project: str, purpose: str, filename: str, source: BinaryIO, limit: int
    ) -> StoredFile:
        """Store an upload (at most `limit` bytes, else TooLarge and nothing kept)."""
        file_id = new_file_id()
        path = self.files_dir / file_id
        size = 0
        with path.open("wb") as out:
            while chunk := source.read(COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    out.close()
                    path.unlink(missing_ok=True)
                    raise TooLarge(f"the file is over the {limit}-byte limit", "file")
                out.write(chunk)
        return self._record(project, file_id, purpose, filename, size)

    def add_lines_file(
        self, project: str, purpose: str, filename: str, lines: Iterable[str]
    ) -> StoredFile:
        """Store text lines as a JSONL file (results)."""
        file_id = new_file_id()
        path = self.files_dir / file_id
        with path.open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(line + "\n")
        return self._record(project, file_id, purpose, filename, path.stat().st_size)

    def _record(
        self, project: str, file_id: str, purpose: str, filename: str, size: int
    ) -> StoredFile:
        now = int(time.time())
        expires = now + self.retention_seconds if self.retention_seconds else None
        stored = StoredFile(file_id, purpose, filename, size, now, expires)
        with self._tx() as db:
            db.execute(
                f"INSERT INTO files ({FILE_COLUMNS}, project) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (file_id, purpose, filename, size, now, expires, project),
            )
        return stored

    def file(self, file_id: str, project: str | None) -> StoredFile:
        """One file of `project` (NotFound for another project's, as for an unknown id)."""
        query, args = _owned(f"SELECT {FILE_COLUMNS} FROM files WHERE id = ?", file_id, project)
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        if row is None:
            raise NotFound(f"No such file object: {file_id}", "file_id")
        return StoredFile(*row)

    def path(self, file_id: str, project: str | None) -> Path:
        """Where a stored file's bytes are (NotFound if `project` has no such file)."""
        self.file(file_id, project)
        return self.files_dir / file_id

    def files(
        self, project: str, purpose: str | None = None, limit: int = 10_000,
        after: str | None = None, order: Order = "desc",
    ) -> Page[StoredFile]:  # fmt: skip
        """A page of `project`'s files, by creation time (`order`), after the file
        `after` (an id of this project's, else NotFound)."""
        extra = ("purpose = ?", purpose) if purpose else None
        rows = self._page("files", FILE_COLUMNS, project, limit, after, order, "file", extra)
        return Page([StoredFile(*row) for row in rows[:limit]], len(rows) > limit)

    def _page(
        self, table: str, columns: str, project: str, limit: int, after: str | None,
        order: Order, noun: str, extra: tuple[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:  # fmt: skip
        """Up to `limit + 1` of `project`'s rows (and `extra`'s condition) in (created_at,
        insertion) order after the cursor `after` (one of the project's ids)."""
        where, args = "project = ?", [project]
        if extra is not None:
            where, args = f"{where} AND {extra[0]}", [*args, extra[1]]
        sign, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        with self._lock:
            if after is not None:
                cursor = self._db.execute(
                    f"SELECT created_at, rowid FROM {table} WHERE id = ? AND project = ?",
                    (after, project),
                ).fetchone()
                if cursor is None:
                    raise NotFound(f"No such {noun}: {after}", "after")
                where += f" AND (created_at, rowid) {sign} (?, ?)"
                args = [*args, *cursor]
            return self._db.execute(
                f"SELECT {columns} FROM {table} WHERE {where} "
                f"ORDER BY created_at {direction}, rowid {direction} LIMIT ?",
                (*args, limit + 1),
            ).fetchall()

    def delete_file(self, file_id: str, project: str | None) -> None:
        path = self.path(file_id, project)
        with self._tx() as db:
            db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        path.unlink(missing_ok=True)

    def prune(self, now: float | None = None) -> int:
        """Delete files past their retention; how many."""
        now = time.time() if now is None else now
        with self._lock:
            expired = [row[0] for row in self._db.execute(
                "SELECT id FROM files WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            )]  # fmt: skip
        for file_id in expired:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                self.delete_file(file_id, ANY_PROJECT)
        return len(expired)

    # -- batches --------------------------------------------------------------------
    def create_batch(
        self, project: str, endpoint: str, input_file_id: str, window_seconds: int,
        window: str, metadata: dict[str, str] | None, lines: list[Line],
    ) -> Batch:  # fmt: skip
        batch_id = new_id("batch")
        now = int(time.time())
        with self._tx() as db:
            db.execute(
                f"INSERT INTO batches ({BATCH_COLUMNS}, project) VALUES (?, ?, ?, ?, ?, "
                "'validating', ?, ?, '{}', NULL, NULL, NULL, ?, 0, 0, ?)",
                (batch_id, endpoint, input_file_id, window, json.dumps(metadata), now,
                 now + window_seconds, len(lines), project),
            )  # fmt: skip
            db.executemany(
                "INSERT INTO lines VALUES (?, ?, ?, ?, 'pending', NULL, NULL, NULL)",
                [(batch_id, line.index, line.custom_id, json.dumps(line.body)) for line in lines],
            )
        return self.batch(batch_id, project)

    def batch(self, batch_id: str, project: str | None) -> Batch:
        """One batch of `project` (NotFound for another project's, as for an unknown id)."""
        query, args = _owned(
            f"SELECT {BATCH_COLUMNS}, project FROM batches WHERE id = ?", batch_id, project
        )
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        if row is None:
            raise NotFound(f"No such batch: {batch_id}", "batch_id")
        return _batch(row)

    def batches(self, project: str, limit: int = 20, after: str | None = None) -> Page[Batch]:
        """A page of `project`'s batches, newest first, after the batch `after`."""
        rows = self._page("batches", f"{BATCH_COLUMNS}, project", project, limit, after, "desc",
                          "batch")  # fmt: skip
        return Page([_batch(row) for row in rows[:limit]], len(rows) > limit)

    def active(self) -> list[Batch]:
        """Batches with work left (every project's), oldest first."""
        marks = ",".join("?" * len(ACTIVE))
        with self._lock:
            rows = self._db.execute(
                f"SELECT {BATCH_COLUMNS}, project FROM batches WHERE status IN ({marks}) "
                "ORDER BY created_at, rowid", ACTIVE,
            ).fetchall()  # fmt: skip
        return [_batch(row) for row in rows]

    def set_status(self, batch_id: str, status: BatchStatus, **fields: Any) -> Batch:
        """Move a batch on, stamping `<status>_at`; `fields` set other columns."""
        with self._tx() as db:
            row = db.execute("SELECT times FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                raise NotFound(f"No such batch: {batch_id}", "batch_id")
            times = json.loads(row[0])
            times.setdefault(f"{status}_at", int(time.time()))
            columns = {"status": status, "times": json.dumps(times), **fields}
            if "errors" in columns:
                columns["errors"] = json.dumps(columns["errors"])
            assignments = ", ".join(f"{name} = ?" for name in columns)
            db.execute(f"UPDATE batches SET {assignments} WHERE id = ?",
                       (*columns.values(), batch_id))  # fmt: skip
        return self.batch(batch_id, ANY_PROJECT)

    def pending(self, batch_id: str, limit: int) -> list[Line]:
        with self._lock:
            rows = self._db.execute(
                "SELECT idx, custom_id, body FROM lines WHERE batch_id = ? AND state = 'pending' "
                "ORDER BY idx LIMIT ?", (batch_id, limit),
            ).fetchall()  # fmt: skip
        return [Line(idx, custom_id, json.loads(body)) for idx, custom_id, body in rows]

    def finish_line(self, batch_id: str, line: Line, outcome: Outcome) -> bool:
        """Record one line's outcome with the batch's counts, once (False if it was
        already finished)."""
        state = "done" if outcome.ok else "failed"
        column = "completed" if outcome.ok else "failed"
        with self._tx() as db:
            changed = db.execute(
                "UPDATE lines SET state = ?, status_code = ?, response = ?, request_id = ? "
                "WHERE batch_id = ? AND idx = ? AND state = 'pending'",
                (state, outcome.status_code, json.dumps(outcome.body), outcome.request_id,
                 batch_id, line.index),
            ).rowcount  # fmt: skip
            if changed:
                db.execute(f"UPDATE batches SET {column} = {column} + 1 WHERE id = ?",
                           (batch_id,))  # fmt: skip
        return bool(changed)

    def results(self, batch_id: str, ok: bool) -> Iterator[dict[str, Any]]:
        """The finished lines of one kind, as output-file records, in input order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT custom_id, status_code, response, request_id FROM lines "
                "WHERE batch_id = ? AND state = ? ORDER BY idx",
                (batch_id, "done" if ok else "failed"),
            ).fetchall()
        for custom_id, status_code, response, request_id in rows:
            body = json.loads(response)
            yield {
                "id": new_id("batch_req"), "custom_id": custom_id,
                "response": {"status_code": status_code, "request_id": request_id,
                             "body": body},
                "error": None if ok else {"code": _code(body), "message": _message(body)},
            }  # fmt: skip


def _code(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    return str(error.get("code") or error.get("type")) if isinstance(error, dict) else None


def _message(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    return str(error.get("message")) if isinstance(error, dict) else None


def _owned(query: str, object_id: str, project: str | None) -> tuple[str, tuple[str, ...]]:
    """`query` (which selects by id) narrowed to `project`'s rows unless ANY_PROJECT."""
    if project is ANY_PROJECT:
        return query, (object_id,)
    return query + " AND project = ?", (object_id, project)


def _batch(row: tuple[Any, ...]) -> Batch:
    (batch_id, endpoint, input_file_id, window, metadata, status, created_at, expires_at,
     times, output_file_id, error_file_id, errors, total, completed, failed,
     project) = row  # fmt: skip
    return Batch(
        id=batch_id, project=project, endpoint=endpoint, input_file_id=input_file_id,
        completion_window=window,
        status=status, created_at=created_at, expires_at=expires_at,
        counts=Counts(total, completed, failed),
        metadata=json.loads(metadata) if metadata else None,
        times=json.loads(times), output_file_id=output_file_id, error_file_id=error_file_id,
        errors=json.loads(errors) if errors else None,
    )  # fmt: skip
