"""Applying the Alembic migrations (``smslocker db upgrade``; ``serve`` and ``demo`` on start).

The migrations ship inside the package (``migrations/``) and are configured here in code,
so no ``alembic.ini`` has to sit in the working directory of an installed platform.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from .db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str | None:
    """The newest revision the package ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest).

    A database already at the newest revision is left alone without running Alembic at
    all: every command that opens the database calls this, and should neither pay for
    nor log a migration run that has nothing to do.
    """
    if revision == "head" and await current(database) == head():
        return

    def run(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    async with database.write() as connection:
        await connection.run_sync(run)


async def current(database: Database) -> str | None:
    """The revision the database is at (``None`` before the first migration)."""

    def read(connection: Connection) -> str | None:
        # Read alembic's table directly: MigrationContext.configure() would log at INFO
        # on every command that merely checks whether there is anything to do.
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))
        return versions.scalar_one_or_none()

    async with database.read() as connection:
        return await connection.run_sync(read)
