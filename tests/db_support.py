"""Databases for tests: a migrated SQLite file, or a PostgreSQL schema of its own.

A module of its own (not conftest.py) so that test modules can import it by a name
no other directory's conftest shadows.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


def postgres_async_url(url: str) -> str:
    """``postgresql://...`` as the asyncpg URL SQLAlchemy wants."""
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


_TEMPLATE: dict[str, Path] = {}


async def _sqlite_template() -> Path:
    """A migrated SQLite file, made once per test process: copying it is a millisecond,
    running every migration a quarter of a second, for each of a thousand tests."""
    from smslocker.store import Database, upgrade

    if "sqlite" not in _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="smslocker-template-"))
        path = folder / "template.db"
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(database)
        finally:
            await database.close()  # the last connection out checkpoints the WAL into the file
        assert (
            not (folder / "template.db-wal").exists()
            or (folder / "template.db-wal").stat().st_size == 0
        )
        _TEMPLATE["sqlite"] = path
    return _TEMPLATE["sqlite"]


async def _create_at_head(database: Any) -> None:
    """The schema at the newest revision, made from the models in one transaction (a
    tenth of what running every migration costs) and stamped with that revision.
    tests/store/test_schema_matches_models.py proves the models and the migrations make
    the same schema; the migration tests run the migrations themselves."""
    from sqlalchemy import text

    from smslocker.store.migrate import head
    from smslocker.store.models import Base

    revision = _TEMPLATE.setdefault("head", Path(str(head())))

    async with database.write() as connection:
        await connection.run_sync(Base.metadata.create_all, checkfirst=False)
        await connection.execute(
            text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        )
        await connection.execute(
            text("INSERT INTO alembic_version VALUES (:v)"), {"v": str(revision)}
        )


@asynccontextmanager
async def migrated_database(kind: str, tmp_path: Path, pg_url: str | None) -> AsyncIterator[Any]:
    """A fresh, migrated database: a SQLite file in ``tmp_path``, or a PostgreSQL schema
    of its own (dropped afterwards) so that concurrent runs never see each other's rows."""
    from sqlalchemy import text

    from smslocker.store import Database

    if kind == "sqlite":
        path = tmp_path / "test.db"
        await asyncio.to_thread(shutil.copyfile, await _sqlite_template(), path)
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
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
        await _create_at_head(database)
        yield database
    finally:
        await database.close()
        async with admin.write() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.close()
