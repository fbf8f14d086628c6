"""The job store's tables (SQLAlchemy Core), written once for SQLite and PostgreSQL.

The migrations in `jobs/migrations` (Alembic) build exactly these; `upgrade` runs them.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

metadata = sa.MetaData()

files = sa.Table(
    "files", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
)  # fmt: skip
"""Uploads and results; `created_ns` orders them (creation, then insertion)."""

batches = sa.Table(
    "batches", metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("endpoint", sa.Text, nullable=False),
    sa.Column("input_file_id", sa.Text, nullable=False),
    sa.Column("completion_window", sa.Text, nullable=False),
    sa.Column("metadata", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("times", sa.Text, nullable=False),
    sa.Column("output_file_id", sa.Text),
    sa.Column("error_file_id", sa.Text),
    sa.Column("errors", sa.Text),
    sa.Column("total", sa.Integer, nullable=False),
    sa.Column("completed", sa.Integer, nullable=False),
    sa.Column("failed", sa.Integer, nullable=False),
    sa.Column("project", sa.Text, nullable=False),
    sa.Column("created_ns", sa.BigInteger, nullable=False),
    sa.Column("finalizer", sa.Text),
    sa.Column("finalize_until", sa.Float),
)  # fmt: skip
"""Batches; `finalizer` holds the lease of the replica writing its output files."""

lines = sa.Table(
    "lines", metadata,
    sa.Column("batch_id", sa.Text, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("custom_id", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("response", sa.Text),
    sa.Column("request_id", sa.Text),
    sa.Column("lease_owner", sa.Text),
    sa.Column("lease_until", sa.Float),
    sa.Column("replica", sa.Text),
)  # fmt: skip
"""One row per input line: `pending` (leased to `lease_owner` until `lease_until`, or
free), then `done` or `failed` by `replica`."""

stores = sa.Table(
    "stores", metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)  # fmt: skip
"""Facts about the store itself; `files_dir_token` names the marker file
(`.store-<token>`) that the files directory every replica mounts must hold."""

sa.Index("pending", lines.c.batch_id, lines.c.state, lines.c.idx)
sa.Index("files_by_project", files.c.project, files.c.created_ns)
sa.Index("batches_by_project", batches.c.project, batches.c.created_ns)

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x5350_4A4F
"""PostgreSQL advisory lock held while migrating, so replicas starting at once take turns."""


def upgrade(engine: sa.Engine, legacy_project: str) -> None:
    """Bring the database to the newest schema (a new one is created; a SQLite store from
    before projects gives its rows to `legacy_project`)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["legacy_project"] = legacy_project
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
