"""Alembic environment: runs on the connection that :func:`smslocker.store.migrate.upgrade`
hands over in ``config.attributes`` (no engine of its own, no alembic.ini)."""

from __future__ import annotations

from alembic import context

from smslocker.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through smslocker.store.migrate (smslocker db upgrade)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
