"""Files, batches and lines, each file and batch owned by a project.

A new database gets the tables. A SQLite store from before Alembic is taken as it is:
one written before projects existed (no `project` column) gets the column, and its rows
go to the configured legacy project; one written after is already this revision.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import context, op

revision = "0001"
down_revision = None


def upgrade() -> None:
    bind = op.get_bind()
    tables = set(sa.inspect(bind).get_table_names())
    if "files" not in tables:
        _create()
        return
    columns = {c["name"] for c in sa.inspect(bind).get_columns("files")}
    if "project" in columns:
        return
    legacy = context.config.attributes["legacy_project"]
    for table in ("files", "batches"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("project", sa.Text, nullable=False, server_default=""))
        op.execute(sa.text(f"UPDATE {table} SET project = :p").bindparams(p=legacy))
    op.create_index("files_by_project", "files", ["project", "created_at"])
    op.create_index("batches_by_project", "batches", ["project", "created_at"])


def _create() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger),
        sa.Column("project", sa.Text, nullable=False),
    )
    op.create_table(
        "batches",
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
    )
    op.create_table(
        "lines",
        sa.Column("batch_id", sa.Text, primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("custom_id", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", sa.Text),
        sa.Column("request_id", sa.Text),
    )
    op.create_index("pending", "lines", ["batch_id", "state", "idx"])
    op.create_index("files_by_project", "files", ["project", "created_at"])
    op.create_index("batches_by_project", "batches", ["project", "created_at"])
