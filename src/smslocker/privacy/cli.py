"""``smslocker privacy status | rotate-key | reencrypt | drop-key``: the key ring from a shell.

Rotation without downtime: ``rotate-key`` (running processes take the new key within
seconds, :mod:`.keyring`), then ``reencrypt`` (old rows move to it, in short
transactions, while everything runs), then ``drop-key OLD`` once ``status`` shows no
row on it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated

import typer

from smslocker.store.cli import database_for, settings_of

privacy_app = typer.Typer(
    name="privacy", help="Encryption of message bodies at rest.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")


@privacy_app.command("status")
def status_command(ctx: typer.Context) -> None:
    """The key file, its keys (the primary marked), and how many bodies each key holds."""
    from sqlalchemy import select

    from smslocker.store.migrate import upgrade
    from smslocker.store.models import Message

    from .keyring import KeyRing

    settings = settings_of(ctx)
    path = settings.resolved_key_file()
    ring = KeyRing.load_or_create(path)

    async def count() -> tuple[Counter[str], int]:
        database = database_for(settings)
        try:
            await upgrade(database)
            per_key: Counter[str] = Counter()
            clear = 0
            async with database.read() as connection:
                result = await connection.stream(
                    select(Message.sealed, Message.text.is_not(None)).where(
                        Message.body_purged_at.is_(None)
                    )
                )
                async for sealed, has_text in result:
                    if sealed is not None:
                        per_key[KeyRing.key_id_of(sealed)] += 1
                    elif has_text:
                        clear += 1
            return per_key, clear
        finally:
            await database.close()

    per_key, clear = asyncio.run(count())
    typer.echo(f"key file: {path}")
    typer.echo(f"encrypt bodies: {'on' if settings.privacy.encrypt_bodies else 'off'}")
    for key_id in ring.key_ids:
        mark = " (primary)" if key_id == ring.primary else ""
        typer.echo(f"key {key_id}{mark}: {per_key.get(key_id, 0)} bodies")
    unknown = sorted(set(per_key) - set(ring.key_ids))
    for key_id in unknown:
        typer.echo(f"key {key_id} (NOT IN THE FILE): {per_key[key_id]} bodies")
    typer.echo(f"in clear: {clear} bodies")


@privacy_app.command("rotate-key")
def rotate_command(ctx: typer.Context) -> None:
    """Add a new key and make it the primary (old keys still open old bodies)."""
    from .keyring import KeyRing, rotate_key_file

    path = settings_of(ctx).resolved_key_file()
    KeyRing.load_or_create(path)
    key_id = rotate_key_file(path)
    typer.echo(f"new primary key {key_id}; run `smslocker privacy reencrypt` to move old bodies")


@privacy_app.command("reencrypt")
def reencrypt_command(
    ctx: typer.Context,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Rows per transaction.")] = 500,
) -> None:
    """Seal every stored body with the primary key (and seal bodies stored in clear)."""
    from smslocker.store.migrate import upgrade

    from .keyring import KeyRing
    from .reencrypt import reencrypt

    settings = settings_of(ctx)
    ring = KeyRing.load_or_create(settings.resolved_key_file())

    async def run() -> None:
        database = database_for(settings)
        try:
            await upgrade(database)
            counts = await reencrypt(database, ring, chunk=chunk)
        finally:
            await database.close()
        typer.echo(f"resealed {counts.resealed} bodies, sealed {counts.sealed} in clear")

    asyncio.run(run())


@privacy_app.command("drop-key")
def drop_command(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="A key that is not primary.")]
) -> None:
    """Remove a key from the file (run ``reencrypt`` first: its bodies become unreadable)."""
    from .keyring import drop_key

    try:
        drop_key(settings_of(ctx).resolved_key_file(), key_id)
    except ValueError as error:
        typer.echo(f"smslocker privacy drop-key: {error}", err=True)
        raise typer.Exit(code=1) from error
    typer.echo(f"dropped key {key_id}")


__all__ = ["privacy_app", "register"]
