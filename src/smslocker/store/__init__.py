"""Durable state: SQLAlchemy models, Alembic migrations, SQLite (default) and PostgreSQL.

:mod:`.models` is the schema, :mod:`.db` opens a :class:`~.db.Database` from a URL and
gives out read and write transactions, :mod:`.migrate` applies the migrations.
"""

from .db import Database, open_database
from .migrate import upgrade

__all__ = ["Database", "open_database", "upgrade"]
