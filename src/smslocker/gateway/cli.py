"""``smslocker connectors add / list / show / start / stop / remove``: carrier connectors
from a shell, the same rows the admin API manages (:mod:`.registry`).

A gateway process (``smslocker serve --role gateway`` or ``all``) picks a change up
within seconds. The bind password and the HTTP secret are never printed. Data goes to
stdout; errors go to stderr with exit code 1 (2 for a usage error). Commands apply the
migrations first, so a fresh data folder just works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from smslocker.store.cli import database_for, settings_of

if TYPE_CHECKING:
    from smslocker.store.db import Database

    from .registry import ConnectorRecord

T = TypeVar("T")

connectors_app = typer.Typer(
    name="connectors",
    help="Carrier connectors (SMPP binds, HTTP ingress) that gateway processes run.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add ``connectors`` to ``app``."""
    app.add_typer(connectors_app, name="connectors")


def _run(ctx: typer.Context, command: str, work: Callable[[Database], Awaitable[T]]) -> T:
    from smslocker.store.migrate import upgrade

    from .registry import ConnectorError

    async def run() -> T:
        database = database_for(settings_of(ctx))
        try:
            await upgrade(database)
            return await work(database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except ConnectorError as error:
        typer.echo(f"smslocker connectors {command}: {error}", err=True)
        raise typer.Exit(code=1) from error


def _now() -> datetime:
    from smslocker.store.types import utcnow

    return utcnow()


def _describe(record: ConnectorRecord) -> str:
    """One line: name, bind, where, enabled, state, owner, last error."""
    from .registry import public_options

    now = _now()
    where = f"/api/v1/ingest/{record.name}" if record.is_http else f"{record.host}:{record.port}"
    if record.is_http:
        state = "ready" if record.enabled else "stopped"
    elif record.leased_at(now):
        state = f"{record.status} on {record.lease_owner}"
    else:
        state = "unassigned" if record.enabled else "stopped"
    parts = [record.name, record.bind, where, "enabled" if record.enabled else "disabled", state]
    options = public_options(record.options)
    if options:
        parts.append(" ".join(f"{key}={value}" for key, value in sorted(options.items())))
    if record.last_error and state != "stopped":
        parts.append(f"last error: {record.last_error}")
    return "  ".join(parts)


@connectors_app.command("add")
def add_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name (letters, digits, . _ -).")],
    host: Annotated[str, typer.Option("--host", help="SMSC host.")] = "",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="SMSC port.")] = 2775,
    system_id: Annotated[str, typer.Option("--system-id", help="bind system_id.")] = "",
    password: Annotated[str, typer.Option("--password", help="bind password.")] = "",
    bind: Annotated[
        str, typer.Option("--bind", help="receiver, transceiver, transmitter, or http.")
    ] = "receiver",
    system_type: Annotated[str | None, typer.Option("--system-type")] = None,
    address_range: Annotated[str | None, typer.Option("--address-range")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="Connect with TLS.")] = False,
    window: Annotated[int | None, typer.Option("--window", min=1)] = None,
    enquire_link_s: Annotated[float | None, typer.Option("--enquire-link-s")] = None,
    http_secret: Annotated[
        str | None, typer.Option("--http-secret", help="HTTP ingress: Twilio token or secret.")
    ] = None,
    public_url: Annotated[
        str | None, typer.Option("--public-url", help="HTTP ingress: the URL the provider signs.")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it stopped.")] = False,
) -> None:
    """Add a connector; a gateway process binds it within seconds (unless --disabled)."""
    from .registry import create_connector

    options: dict[str, Any] = {
        "system_type": system_type,
        "address_range": address_range,
        "window": window,
        "enquire_link_s": enquire_link_s,
        "http_secret": http_secret,
        "public_url": public_url,
    }
    if tls:
        options["tls"] = True
    values = {
        "name": name,
        "bind": bind,
        "enabled": not disabled,
        "options": {key: value for key, value in options.items() if value is not None},
    }
    if bind != "http":
        values.update(host=host, port=port, system_id=system_id, password=password)
    record = _run(ctx, "add", lambda db: create_connector(db, values, _now()))
    typer.echo(f"added {_describe(record)}")


@connectors_app.command("list")
def list_command(ctx: typer.Context) -> None:
    """List connectors: name, bind, where, enabled, state (and the gateway running it)."""
    from .registry import list_connectors

    for record in _run(ctx, "list", list_connectors):
        typer.echo(_describe(record))


@connectors_app.command("show")
def show_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The connector's name.")]
) -> None:
    """Show one connector."""
    from .registry import get_connector

    typer.echo(_describe(_run(ctx, "show", lambda db: get_connector(db, name))))


@connectors_app.command("start")
def start_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The connector's name.")]
) -> None:
    """Enable a connector: a gateway process binds it."""
    from .registry import set_enabled

    record = _run(ctx, "start", lambda db: set_enabled(db, name, True, _now()))
    typer.echo(f"started {_describe(record)}")


@connectors_app.command("stop")
def stop_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The connector's name.")]
) -> None:
    """Disable a connector: the gateway process running it unbinds."""
    from .registry import set_enabled

    record = _run(ctx, "stop", lambda db: set_enabled(db, name, False, _now()))
    typer.echo(f"stopped {_describe(record)}")


@connectors_app.command("remove")
def remove_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The connector's name.")]
) -> None:
    """Remove a connector (the gateway process running it unbinds)."""
    from .registry import delete_connector

    _run(ctx, "remove", lambda db: delete_connector(db, name))
    typer.echo(f"removed {name}")
