"""Leases, so that many replicas share one store.

- lines: `lease_owner`/`lease_until` (the replica working on a line, and until when),
  and `replica` (which one finished it);
- batches: `finalizer`/`finalize_until` (the one replica writing its output files);
- files and batches: `created_ns`, the order of creation that every replica agrees on
  (SQLite's rowid is one database's; rows already there keep their order through it).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("lines") as batch:
        batch.add_column(sa.Column("lease_owner", sa.Text))
        batch.add_column(sa.Column("lease_until", sa.Float))
        batch.add_column(sa.Column("replica", sa.Text))
    for table in ("files", "batches"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("created_ns", sa.BigInteger, nullable=False,
                                       server_default="0"))  # fmt: skip
            if table == "batches":
                batch.add_column(sa.Column("finalizer", sa.Text))
                batch.add_column(sa.Column("finalize_until", sa.Float))
        order = " + rowid" if sqlite else ""
        op.execute(f"UPDATE {table} SET created_ns = created_at * 1000000000{order}")
        op.drop_index(f"{table}_by_project", table_name=table)
        op.create_index(f"{table}_by_project", table, ["project", "created_ns"])
