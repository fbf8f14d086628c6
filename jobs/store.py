"""The durable job store: SQLAlchemy Core over embedded SQLite (the default) or
PostgreSQL (replicas sharing one deployment), and a directory of files every replica
mounts.

A line's result is written with its counters in one transaction, so a crash loses no
finished line. Work is leased, not owned: a runner claims pending lines for a while
(`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises writers) and renews the lease
while it works; a dead replica's leases run out and another claims those lines again.
A line is finished once (the first result wins), and a batch is finalised once, by the
replica holding its finalizer lease, with its files and its status in one commit.

Every file and batch belongs to a project (a tenant). The methods a caller reaches take
the caller's project, and another project's id is `NotFound` in the very words an
unknown id gets, so a caller cannot learn that it exists. `ANY_PROJECT` is for the
runner and the reaper only.

The schema is `jobs.schema`, migrated by Alembic when the store opens; a SQLite store
from before projects is upgraded and its rows go to `legacy_project`.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa

from common.ids import new_id
from jobs.errors import BytesMissing, FilesDirNotShared, NotFound, TooLarge
from jobs.schema import batches, files, lines, stores, upgrade
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

COPY_CHUNK = 1 << 20
FILE_COLUMNS = (files.c.id, files.c.purpose, files.c.filename, files.c.bytes,
                files.c.created_at, files.c.expires_at)  # fmt: skip
BATCH_COLUMNS = (
    batches.c.id, batches.c.endpoint, batches.c.input_file_id, batches.c.completion_window,
    batches.c.metadata, batches.c.status, batches.c.created_at, batches.c.expires_at,
    batches.c.times, batches.c.output_file_id, batches.c.error_file_id, batches.c.errors,
    batches.c.total, batches.c.completed, batches.c.failed, batches.c.project,
)  # fmt: skip
ANY_PROJECT = None
"""The project argument of the runner's and the reaper's own reads: every project."""
FILES_DIR_TOKEN = "files_dir_token"
"""The `stores` key of the token whose marker the files directory holds."""
MARKER_PREFIX = ".store-"
"""The marker file's name in the files directory, before the token."""


def new_file_id() -> str:
    """OpenAI's form: `file-` and 24 hex digits."""
    return new_id("file", separator="-")


def database_url(url: str) -> str:
    """`postgresql://` (what operators write) through psycopg 3; others unchanged."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def open_engine(url: str) -> sa.Engine:
    """An engine for the store: SQLite in WAL with full sync, writers taking the lock at
    BEGIN (so a claim never deadlocks on an upgrade); PostgreSQL with pings."""
    url = database_url(url)
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 60})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi: Any, _record: Any) -> None:
        dbapi.isolation_level = None  # transactions are begun below, not by the driver
        dbapi.execute("PRAGMA journal_mode=WAL")
        dbapi.execute("PRAGMA synchronous=FULL")
        dbapi.execute("PRAGMA busy_timeout=60000")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class JobStore:
    """Files and batches; safe to use from several threads and several processes."""

    def __init__(
        self, url: str | Path, files_dir: Path, retention_seconds: int, legacy_project: str,
        lease_seconds: float = 30.0,
    ) -> None:  # fmt: skip
        """`url`: a database URL, or the path of a SQLite file."""
        if isinstance(url, Path):
            url = f"sqlite:///{url}"
        files_dir.mkdir(parents=True, exist_ok=True)
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.files_dir = files_dir
        self.retention_seconds = retention_seconds
        self.lease_seconds = lease_seconds
        """How long a claimed line or a finalisation stays this replica's unrenewed."""
        self._engine = open_engine(url)
        upgrade(self._engine, legacy_project)
        self._bind_files_dir()

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._engine.dialect.name

    def close(self) -> None:
        self._engine.dispose()

    def _bind_files_dir(self) -> None:
        """Check that the files directory is the one this database's files are in (else
        FilesDirNotShared). The first store to open the database leaves a marker file
        there, then writes its token; every later one must find that marker. The marker
        is written before the token, so a replica starting at the same moment on the same
        directory finds it."""
        token = self._token()
        if token is None:
            mine = uuid.uuid4().hex
            (self.files_dir / f"{MARKER_PREFIX}{mine}").touch()
            with contextlib.suppress(sa.exc.IntegrityError), self._tx() as db:  # a token is there
                db.execute(stores.insert().values(key=FILES_DIR_TOKEN, value=mine))
            token = self._token()
            if token != mine:  # another store bound the database first
                (self.files_dir / f"{MARKER_PREFIX}{mine}").unlink(missing_ok=True)
        if token is None or not (self.files_dir / f"{MARKER_PREFIX}{token}").is_file():
            self.close()
            raise FilesDirNotShared(
                f"the job store's database keeps its files in another directory than "
                f"{self.files_dir} (which holds no {MARKER_PREFIX}{token} marker): every "
                f"replica sharing the database must mount the same files directory, or the "
                f"result files one writes are missing on the others"
            )

    def _token(self) -> str | None:
        with self._engine.connect() as db:
            return db.execute(
                sa.select(stores.c.value).where(stores.c.key == FILES_DIR_TOKEN)
            ).scalar_one_or_none()

    def _tx(self) -> contextlib.AbstractContextManager[sa.Connection]:
        return self._engine.begin()

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
        stored, row = self._file_row(project, file_id, purpose, filename, size)
        with self._tx() as db:
            db.execute(files.insert().values(row))
        return stored

    def add_lines_file(
        self, project: str, purpose: str, filename: str, lines_: Iterable[str]
    ) -> StoredFile:
        """Store text lines as a JSONL file."""
        file_id, size = self._write_lines(lines_)
        stored, row = self._file_row(project, file_id, purpose, filename, size)
        with self._tx() as db:
            db.execute(files.insert().values(row))
        return stored

    def _write_lines(self, lines_: Iterable[str]) -> tuple[str, int]:
        """Text lines as a new JSONL file on disk (no row yet): its id and size."""
        file_id = new_file_id()
        path = self.files_dir / file_id
        with path.open("w", encoding="utf-8") as out:
            for line in lines_:
                out.write(line + "\n")
        return file_id, path.stat().st_size

    def _file_row(
        self, project: str, file_id: str, purpose: str, filename: str, size: int
    ) -> tuple[StoredFile, dict[str, Any]]:
        now_ns = time.time_ns()
        now = now_ns // 1_000_000_000
        expires = now + self.retention_seconds if self.retention_seconds else None
        stored = StoredFile(file_id, purpose, filename, size, now, expires)
        row = {"id": file_id, "purpose": purpose, "filename": filename, "bytes": size,
               "created_at": now, "expires_at": expires, "project": project,
               "created_ns": now_ns}  # fmt: skip
        return stored, row

    def file(self, file_id: str, project: str | None) -> StoredFile:
        """One file of `project` (NotFound for another project's, as for an unknown id)."""
        query = _owned(sa.select(*FILE_COLUMNS).where(files.c.id == file_id), files, project)
        with self._engine.connect() as db:
            row = db.execute(query).first()
        if row is None:
            raise NotFound(f"No such file object: {file_id}", "file_id")
        return _file(row)

    def path(self, file_id: str, project: str | None) -> Path:
        """Where a stored file's bytes are (NotFound if `project` has no such file,
        BytesMissing if the database has it but the files directory does not)."""
        self.file(file_id, project)
        path = self.files_dir / file_id
        if not path.is_file():
            raise BytesMissing(
                f"The bytes of file {file_id} are missing from the server's files directory.",
                "file_id",
            )
        return path

    def files(
        self, project: str, purpose: str | None = None, limit: int = 10_000,
        after: str | None = None, order: Order = "desc",
    ) -> Page[StoredFile]:  # fmt: skip
        """A page of `project`'s files, by creation time (`order`), after the file
        `after` (an id of this project's, else NotFound)."""
        extra = files.c.purpose == purpose if purpose else None
        rows = self._page(files, FILE_COLUMNS, project, limit, after, order, "file", extra)
        return Page([_file(row) for row in rows[:limit]], len(rows) > limit)

    def _page(
        self, table: sa.Table, columns: tuple[sa.Column[Any], ...], project: str, limit: int,
        after: str | None, order: Order, noun: str, extra: Any = None,
    ) -> list[sa.Row[Any]]:  # fmt: skip
        """Up to `limit + 1` of `project`'s rows (and `extra`'s condition) in creation
        order (`created_ns`, then id) after the cursor `after` (one of the project's ids)."""
        query = sa.select(*columns).where(table.c.project == project)
        if extra is not None:
            query = query.where(extra)
        key = sa.tuple_(table.c.created_ns, table.c.id)
        with self._engine.connect() as db:
            if after is not None:
                cursor = db.execute(sa.select(table.c.created_ns, table.c.id).where(
                    table.c.id == after, table.c.project == project)).first()  # fmt: skip
                if cursor is None:
                    raise NotFound(f"No such {noun}: {after}", "after")
                bound = sa.tuple_(sa.literal(cursor[0]), sa.literal(cursor[1]))
                query = query.where(key > bound if order == "asc" else key < bound)
            if order == "asc":
                query = query.order_by(table.c.created_ns, table.c.id)
            else:
                query = query.order_by(table.c.created_ns.desc(), table.c.id.desc())
            return list(db.execute(query.limit(limit + 1)).all())

    def delete_file(self, file_id: str, project: str | None) -> None:
        """Delete a file's row and its bytes (NotFound if `project` has no such file)."""
        self.file(file_id, project)
        path = self.files_dir / file_id
        with self._tx() as db:
            db.execute(files.delete().where(files.c.id == file_id))
        path.unlink(missing_ok=True)

    def prune(self, now: float | None = None) -> int:
        """Delete files past their retention; how many."""
        now = time.time() if now is None else now
        with self._engine.connect() as db:
            expired = list(db.execute(sa.select(files.c.id).where(
                files.c.expires_at.is_not(None), files.c.expires_at <= now)).scalars())  # fmt: skip
        for file_id in expired:
            with contextlib.suppress(NotFound):  # deleted meanwhile
                self.delete_file(file_id, ANY_PROJECT)
        return len(expired)

    # -- batches --------------------------------------------------------------------
    def create_batch(
        self, project: str, endpoint: str, input_file_id: str, window_seconds: int,
        window: str, metadata: dict[str, str] | None, lines_: list[Line],
    ) -> Batch:  # fmt: skip
        batch_id = new_id("batch")
        now_ns = time.time_ns()
        now = now_ns // 1_000_000_000
        with self._tx() as db:
            db.execute(batches.insert().values(
                id=batch_id, endpoint=endpoint, input_file_id=input_file_id,
                completion_window=window, metadata=json.dumps(metadata), status="validating",
                created_at=now, expires_at=now + window_seconds, times="{}", total=len(lines_),
                completed=0, failed=0, project=project, created_ns=now_ns,
            ))  # fmt: skip
            if lines_:
                db.execute(lines.insert(), [
                    {"batch_id": batch_id, "idx": line.index, "custom_id": line.custom_id,
                     "body": json.dumps(line.body), "state": "pending"} for line in lines_
                ])  # fmt: skip
        return self.batch(batch_id, project)

    def batch(self, batch_id: str, project: str | None) -> Batch:
        """One batch of `project` (NotFound for another project's, as for an unknown id)."""
        query = _owned(sa.select(*BATCH_COLUMNS).where(batches.c.id == batch_id), batches,
                       project)  # fmt: skip
        with self._engine.connect() as db:
            row = db.execute(query).first()
        if row is None:
            raise NotFound(f"No such batch: {batch_id}", "batch_id")
        return _batch(row)

    def batches(self, project: str, limit: int = 20, after: str | None = None) -> Page[Batch]:
        """A page of `project`'s batches, newest first, after the batch `after`."""
        rows = self._page(batches, BATCH_COLUMNS, project, limit, after, "desc", "batch")
        return Page([_batch(row) for row in rows[:limit]], len(rows) > limit)

    def active(self) -> list[Batch]:
        """Batches with work left (every project's), oldest first."""
        query = (sa.select(*BATCH_COLUMNS).where(batches.c.status.in_(ACTIVE))
                 .order_by(batches.c.created_ns, batches.c.id))  # fmt: skip
        with self._engine.connect() as db:
            return [_batch(row) for row in db.execute(query)]

    def set_status(
        self, batch_id: str, status: BatchStatus, only_from: tuple[BatchStatus, ...] = (),
        **fields: Any,
    ) -> Batch:  # fmt: skip
        """Move a batch on, stamping `<status>_at`; `fields` set other columns. With
        `only_from`, only a batch in one of those statuses moves (checked and moved in one
        transaction, so replicas racing on one batch move it once)."""
        with self._tx() as db:
            query = sa.select(batches.c.times, batches.c.status).where(batches.c.id == batch_id)
            row = db.execute(query.with_for_update()).first()
            if row is None:
                raise NotFound(f"No such batch: {batch_id}", "batch_id")
            if not only_from or row.status in only_from:
                self._move(db, batch_id, json.loads(row.times), status, fields)
        return self.batch(batch_id, ANY_PROJECT)

    @staticmethod
    def _move(
        db: sa.Connection, batch_id: str, times: dict[str, int], status: BatchStatus,
        fields: dict[str, Any],
    ) -> None:  # fmt: skip
        times.setdefault(f"{status}_at", int(time.time()))
        columns = {"status": status, "times": json.dumps(times), **fields}
        if "errors" in columns:
            columns["errors"] = json.dumps(columns["errors"])
        db.execute(batches.update().where(batches.c.id == batch_id).values(columns))

    # -- leased work ----------------------------------------------------------------
    def claim(self, batch_id: str, owner: str, limit: int) -> list[Line]:
        """Lease up to `limit` of a batch's pending lines that no live lease holds."""
        now = time.time()
        free = sa.or_(lines.c.lease_until.is_(None), lines.c.lease_until < now)
        query = (sa.select(lines.c.idx, lines.c.custom_id, lines.c.body)
                 .where(lines.c.batch_id == batch_id, lines.c.state == "pending", free)
                 .order_by(lines.c.idx).limit(limit)
                 .with_for_update(skip_locked=True))  # fmt: skip
        with self._tx() as db:
            rows = db.execute(query).all()
            if rows:
                db.execute(lines.update().where(
                    lines.c.batch_id == batch_id, lines.c.idx.in_([r.idx for r in rows])
                ).values(lease_owner=owner, lease_until=now + self.lease_seconds))  # fmt: skip
        return [Line(idx, custom_id, json.loads(body)) for idx, custom_id, body in rows]

    def renew(self, batch_id: str, owner: str, indices: list[int]) -> None:
        """Extend this replica's leases on lines it is still working on."""
        with self._tx() as db:
            db.execute(lines.update().where(
                lines.c.batch_id == batch_id, lines.c.idx.in_(indices),
                lines.c.lease_owner == owner, lines.c.state == "pending",
            ).values(lease_until=time.time() + self.lease_seconds))  # fmt: skip

    def unfinished(self, batch_id: str) -> int:
        """Lines still pending, leased or not."""
        query = sa.select(sa.func.count()).select_from(lines).where(
            lines.c.batch_id == batch_id, lines.c.state == "pending")  # fmt: skip
        with self._engine.connect() as db:
            return int(db.execute(query).scalar_one())

    def pending(self, batch_id: str, limit: int) -> list[Line]:
        """Pending lines in input order, leased or not (a look, not a claim)."""
        query = (sa.select(lines.c.idx, lines.c.custom_id, lines.c.body)
                 .where(lines.c.batch_id == batch_id, lines.c.state == "pending")
                 .order_by(lines.c.idx).limit(limit))  # fmt: skip
        with self._engine.connect() as db:
            rows = db.execute(query).all()
        return [Line(idx, custom_id, json.loads(body)) for idx, custom_id, body in rows]

    def finish_line(
        self, batch_id: str, line: Line, outcome: Outcome, replica: str | None = None
    ) -> bool:
        """Record one line's outcome with the batch's counts, once (False if it was
        already finished, by this replica or another whose lease it outlived)."""
        state = "done" if outcome.ok else "failed"
        column = batches.c.completed if outcome.ok else batches.c.failed
        with self._tx() as db:
            changed = db.execute(lines.update().where(
                lines.c.batch_id == batch_id, lines.c.idx == line.index,
                lines.c.state == "pending",
            ).values(state=state, status_code=outcome.status_code,
                     response=json.dumps(outcome.body), request_id=outcome.request_id,
                     replica=replica, lease_until=None)).rowcount  # fmt: skip
            if changed:
                db.execute(batches.update().where(batches.c.id == batch_id)
                           .values({column.name: column + 1}))  # fmt: skip
        return bool(changed)

    def claim_finalize(self, batch_id: str, owner: str) -> bool:
        """Lease the writing of a batch's files to `owner` (False: another holds it)."""
        now = time.time()
        with self._tx() as db:
            changed = db.execute(batches.update().where(
                batches.c.id == batch_id, batches.c.status.in_(ACTIVE),
                sa.or_(batches.c.finalizer.is_(None), batches.c.finalizer == owner,
                       batches.c.finalize_until < now),
            ).values(finalizer=owner, finalize_until=now + self.lease_seconds))  # fmt: skip
        return bool(changed.rowcount)

    def finalize(
        self, batch: Batch, status: BatchStatus, owner: str, records: dict[bool, list[str]]
    ) -> bool:
        """End a batch whose finalizer lease `owner` holds: its output (True) and error
        (False) records become files, and the files and the status land in one commit.
        False (and nothing kept) if the lease was lost meanwhile."""
        written: dict[str, tuple[str, int]] = {}
        for ok, column in ((True, "output_file_id"), (False, "error_file_id")):
            if records.get(ok):
                written[column] = self._write_lines(records[ok])
        with self._tx() as db:
            query = sa.select(batches.c.times).where(
                batches.c.id == batch.id, batches.c.finalizer == owner,
                batches.c.status.in_(ACTIVE))  # fmt: skip
            row = db.execute(query.with_for_update()).first()
            if row is not None:
                ids: dict[str, str | None] = {"output_file_id": None, "error_file_id": None}
                for column, (file_id, size) in written.items():
                    kind = "output" if column == "output_file_id" else "error"
                    _stored, file_row = self._file_row(
                        batch.project, file_id, "batch_output", f"{batch.id}_{kind}.jsonl", size
                    )
                    db.execute(files.insert().values(file_row))
                    ids[column] = file_id
                self._move(db, batch.id, json.loads(row.times), status, ids)
        if row is None:
            for file_id, _size in written.values():
                (self.files_dir / file_id).unlink(missing_ok=True)
        return row is not None

    def results(self, batch_id: str, ok: bool) -> Iterator[dict[str, Any]]:
        """The finished lines of one kind, as output-file records, in input order; each
        says which replica ran it (`x_replica`)."""
        query = (sa.select(lines.c.custom_id, lines.c.status_code, lines.c.response,
                           lines.c.request_id, lines.c.replica)
                 .where(lines.c.batch_id == batch_id,
                        lines.c.state == ("done" if ok else "failed"))
                 .order_by(lines.c.idx))  # fmt: skip
        with self._engine.connect() as db:
            rows = db.execute(query).all()
        for custom_id, status_code, response, request_id, replica in rows:
            body = json.loads(response)
            yield {
                "id": new_id("batch_req"), "custom_id": custom_id,
                "response": {"status_code": status_code, "request_id": request_id,
                             "body": body},
                "error": None if ok else {"code": _code(body), "message": _message(body)},
                "x_replica": replica,
            }  # fmt: skip


def _code(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    return str(error.get("code") or error.get("type")) if isinstance(error, dict) else None


def _message(body: dict[str, Any]) -> str | None:
    error = body.get("error")
    return str(error.get("message")) if isinstance(error, dict) else None


def _owned(query: sa.Select[Any], table: sa.Table, project: str | None) -> sa.Select[Any]:
    """`query` (which selects by id) narrowed to `project`'s rows unless ANY_PROJECT."""
    return query if project is ANY_PROJECT else query.where(table.c.project == project)


def _file(row: Any) -> StoredFile:
    file_id, purpose, filename, size, created_at, expires_at = row
    return StoredFile(file_id, purpose, filename, size, created_at, expires_at)


def _batch(row: Any) -> Batch:
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
