"""``smslocker keys ...`` and ``smslocker accounts ...``: accounts, credits and API keys
from a shell.

:func:`register` adds both sub-apps to the main typer app. ``keys create`` prints the
new key on its last line (and never again: only its hash is stored), so a script can
take it with ``tail -n1``. Data goes to stdout, errors to stderr with exit code 1 (2
for a usage error). Commands apply the migrations first, as ``serve`` does, so a fresh
data folder just works. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from smslocker.store.cli import database_for, settings_of

if TYPE_CHECKING:
    from smslocker.store.db import Database

T = TypeVar("T")

keys_app = typer.Typer(name="keys", help="API keys: create, list, revoke.", no_args_is_help=True)
accounts_app = typer.Typer(
    name="accounts", help="Accounts and their credits.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``keys`` and ``accounts`` to ``app``."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(accounts_app, name="accounts")


class _Failed(Exception):
    """A command's error, for the user: printed to stderr, exit code 1."""


def _run(ctx: typer.Context, command: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Open the (migrated) database, run ``work`` on it, close it; errors end the command."""
    from smslocker.accounts.keys import KeyError_
    from smslocker.rentals.errors import RentalError
    from smslocker.store.migrate import upgrade

    async def run() -> T:
        database = database_for(settings_of(ctx))
        try:
            await upgrade(database)
            return await work(database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except (_Failed, KeyError_, RentalError) as error:
        typer.echo(f"smslocker {command}: {error}", err=True)
        raise typer.Exit(code=1) from error


def _now() -> datetime:
    from smslocker.store.types import utcnow

    return utcnow()


async def account_named(db: Database, name: str) -> Any:
    """The row (id, name, balance, tier, status, created_at) of the account ``name``."""
    from sqlalchemy import select

    from smslocker.store.models import Account

    async with db.read() as connection:
        row = (
            await connection.execute(
                select(
                    Account.id,
                    Account.name,
                    Account.balance,
                    Account.tier,
                    Account.status,
                    Account.created_at,
                ).where(Account.name == name)
            )
        ).first()
    if row is None:
        raise _Failed(f"no account named {name!r}")
    return row


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


# --------------------------------------------------------------------------- keys


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    account: Annotated[str, typer.Option("--account", help="The account's name.")],
    role: Annotated[str, typer.Option("--role", help="admin or user.")] = "user",
    label: Annotated[str | None, typer.Option("--label", help="A note: what it is for.")] = None,
    create_account: Annotated[
        bool, typer.Option("--create-account", help="Create the account if it does not exist.")
    ] = False,
    balance: Annotated[
        int, typer.Option("--balance", min=0, help="Opening balance of a created account.")
    ] = 0,
) -> None:
    """Create an API key; the key itself is printed on the last line, once."""
    from smslocker.accounts.keys import Role, create_key
    from smslocker.rentals.credits import create_account as new_account

    if role not in ("admin", "user"):
        typer.echo("smslocker keys create: --role is admin or user", err=True)
        raise typer.Exit(code=2)

    async def work(db: Database) -> tuple[str, str, bool]:
        created = False
        try:
            account_id = (await account_named(db, account)).id
        except _Failed:
            if not create_account:
                raise _Failed(
                    f"no account named {account!r} (add --create-account to create it)"
                ) from None
            account_id = await new_account(db, account, _now(), balance=balance)
            created = True
        view, key = await create_key(db, account_id, Role(role), _now(), label=label)
        return view.id, key, created

    key_id, key, created = _run(ctx, "keys create", work)
    if created:
        typer.echo(f"created account {account} (balance {balance})")
    typer.echo(f"created {role} key {key_id} for account {account}; it is shown only now:")
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    account: Annotated[str | None, typer.Option("--account", help="Only this account's.")] = None,
) -> None:
    """List keys (never the keys themselves): id, account, role, created, revoked, label."""
    from smslocker.accounts.keys import list_keys

    async def work(db: Database) -> list[tuple[Any, str]]:
        names = await _account_names(db)
        account_id = None if account is None else (await account_named(db, account)).id
        return [(key, names.get(key.account_id, "?")) for key in await list_keys(db, account_id)]

    for key, name in _run(ctx, "keys list", work):
        revoked = f"revoked {_when(key.revoked_at)}" if key.revoked_at else "active"
        typer.echo(
            f"{key.id}  {name}  {key.role}  created {_when(key.created_at)}  {revoked}"
            f"  {key.label or ''}".rstrip()
        )


async def _account_names(db: Database) -> dict[int, str]:
    from sqlalchemy import select

    from smslocker.store.models import Account

    async with db.read() as connection:
        rows = (await connection.execute(select(Account.id, Account.name))).all()
    return {row.id: row.name for row in rows}


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Revoke a key: it stops working at once."""
    from smslocker.accounts.keys import revoke_key

    _run(ctx, "keys revoke", lambda db: revoke_key(db, key_id, _now()))
    typer.echo(f"revoked key {key_id}")


# --------------------------------------------------------------------------- accounts


@accounts_app.command("create")
def accounts_create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name.")],
    balance: Annotated[int, typer.Option("--balance", min=0, help="Opening credits.")] = 0,
) -> None:
    """Create an account (with no key: see ``smslocker keys create``)."""
    from smslocker.rentals.credits import create_account

    if not name.strip() or len(name) > 100:
        typer.echo("smslocker accounts create: a name has 1 to 100 characters", err=True)
        raise typer.Exit(code=2)
    account_id = _run(
        ctx, "accounts create", lambda db: create_account(db, name, _now(), balance=balance)
    )
    typer.echo(f"created account {name} (id {account_id}), balance {balance}")


@accounts_app.command("list")
def accounts_list(ctx: typer.Context) -> None:
    """List accounts: id, name, status, balance."""
    from sqlalchemy import select

    from smslocker.store.models import Account

    async def work(db: Database) -> list[Any]:
        async with db.read() as connection:
            query = select(Account.id, Account.name, Account.status, Account.balance)
            return list((await connection.execute(query.order_by(Account.id))).all())

    for row in _run(ctx, "accounts list", work):
        typer.echo(f"{row.id}  {row.name}  {row.status}  balance {row.balance}")


@accounts_app.command("credit")
def accounts_credit(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The account's name.")],
    amount: Annotated[
        int, typer.Argument(help="Credits to add; negative takes away (write: -- -5).")
    ],
) -> None:
    """Add credits (a top-up), or take some away (an adjustment; never below zero)."""
    from smslocker.rentals.credits import adjust, top_up

    async def work(db: Database) -> int:
        account_id = (await account_named(db, name)).id
        change = top_up if amount > 0 else adjust
        return await change(db, account_id, amount, _now())

    balance = _run(ctx, "accounts credit", work)
    typer.echo(f"account {name}: balance {balance}")


@accounts_app.command("show")
def accounts_show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The account's name.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Ledger rows shown.")] = 20,
) -> None:
    """Show an account and its latest ledger rows (newest first)."""
    from smslocker.rentals.credits import ledger_of

    async def work(db: Database) -> tuple[Any, list[Any]]:
        account = await account_named(db, name)
        return account, await ledger_of(db, account.id, limit=limit)

    account, ledger = _run(ctx, "accounts show", work)
    typer.echo(f"account {account.name} (id {account.id})")
    typer.echo(f"status {account.status}, tier {account.tier}, balance {account.balance}")
    typer.echo(f"created {_when(account.created_at)}")
    for row in ledger:
        rental = f"  {row.rental_id}" if row.rental_id else ""
        typer.echo(
            f"{_when(row.created_at)}  {row.amount:+d}  {row.reason}"
            f"  balance {row.balance_after}{rental}"
        )


@accounts_app.command("set-password")
def accounts_set_password(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The account's name.")],
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
) -> None:
    """Set the password the account signs in with on the renter's page (asked twice, or
    read from stdin); its open sessions end."""
    from smslocker.accounts.passwords import WeakPassword, check_strength
    from smslocker.accounts.sessions import set_password

    if password_stdin:
        # One line; only its line ending is dropped (spaces may be part of a password).
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        check_strength(password)
    except WeakPassword as error:
        typer.echo(f"smslocker accounts set-password: {error}", err=True)
        raise typer.Exit(code=1) from error

    async def work(db: Database) -> None:
        account_id = (await account_named(db, name)).id
        await set_password(db, account_id, password, _now())

    _run(ctx, "accounts set-password", work)
    typer.echo(f"account {name}: password set")


@accounts_app.command("remove-password")
def accounts_remove_password(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The account's name.")]
) -> None:
    """Remove the account's password: no more password sign-in, its sessions end."""
    from smslocker.accounts.sessions import remove_password

    async def work(db: Database) -> bool:
        return await remove_password(db, (await account_named(db, name)).id, _now())

    if not _run(ctx, "accounts remove-password", work):
        typer.echo(f"smslocker accounts remove-password: account {name} has no password", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"account {name}: password removed")


__all__ = ["accounts_app", "keys_app", "register"]
