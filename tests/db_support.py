"""Databases for tests: a migrated SQLite file, or a PostgreSQL schema of its own.

A module of its own (not conftest.py) so that test modules can import it by a name
no other directory's conftest shadows.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


def postgres_async_url(url: str) -> str:
    """``postgresql://...`` as the asyncpg URL SQLAlchemy wants."""
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


@asynccontextmanager
async def migrated_database(kind: str, tmp_path: Path, pg_url: str | None) -> AsyncIterator[Any]:
    """A fresh, migrated database: a SQLite file in ``tmp_path``, or a PostgreSQL schema
    of its own (dropped afterwards) so that concurrent runs never see each other's rows."""
    from sqlalchemy import text

    from smslocker.store import Database, upgrade

    if kind == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        try:
            await upgrade(database)
            yield database
        finally:
            await database.close()
        return
    assert pg_url is not None
    schema = f"t_{secrets.token_hex(6)}"
    admin = Database(postgres_async_url(pg_url))
    async with admin.write() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
    database = Database(postgres_async_url(pg_url), schema=schema)
    try:
        await upgrade(database)
        yield database
    finally:
        await database.close()
        async with admin.write() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.close()
