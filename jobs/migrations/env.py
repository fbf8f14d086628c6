"""Alembic's entry point for the job store: runs on the connection `jobs.schema.upgrade`
hands it (there is no alembic.ini; the URL is the server's setting)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
