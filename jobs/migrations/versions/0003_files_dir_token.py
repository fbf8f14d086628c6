"""The files directory's token, so that a replica mounting another directory than the
one the database's files are in refuses to start instead of answering 500s.

- stores: `key`/`value` facts about the store; `files_dir_token` is written by the first
  replica to open the database and names the marker file `.store-<token>` it left in
  the files directory.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
