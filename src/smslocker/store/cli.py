"""``smslocker db ...``: the database from a shell, and opening it for other commands.

:func:`register` adds the ``db`` sub-app to the main typer app. Heavy imports
(SQLAlchemy, Alembic) happen inside the commands, so ``smslocker --version`` stays fast.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from smslocker.settings import Settings

    from .db import Database

db_app = typer.Typer(name="db", help="The database: migrations.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``db`` to ``app``."""
    app.add_typer(db_app, name="db")


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the main callback loaded (``ctx.obj`` of the root context)."""
    from smslocker.settings import Settings, get_settings

    settings = ctx.find_root().obj
    return settings if isinstance(settings, Settings) else get_settings()


def database_for(settings: Settings) -> Database:
    """The database ``settings`` point at (SQLite in ``data_dir`` unless a URL is set)."""
    from .db import open_database

    if settings.database_url is None:
        settings.ensure_data_dir()
    return open_database(
        settings.resolved_database_url(),
        sqlite_synchronous=settings.sqlite.synchronous,
        sqlite_writes_on_loop=settings.sqlite.writes_on_loop,
    )


@db_app.command("upgrade")
def upgrade_command(ctx: typer.Context) -> None:
    """Apply the migrations: bring the schema to the newest revision."""
    from .migrate import current, upgrade

    async def run() -> str | None:
        database = database_for(settings_of(ctx))
        try:
            await upgrade(database)
            return await current(database)
        finally:
            await database.close()

    revision = asyncio.run(run())
    typer.echo(f"database at revision {revision}")


__all__ = ["database_for", "db_app", "register", "settings_of"]
