"""``smslocker audit verify`` and ``smslocker audit export``: the audit trail from a shell.

``verify`` walks the hash chain and exits 1 at the first entry that does not follow
(printing its id and what is wrong), 0 when the whole chain holds. ``export`` writes the
entries as JSON lines to stdout (or ``--output``), oldest first, with filters.
The migrations are applied first, as the other commands do.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from smslocker.store.cli import database_for, settings_of

audit_app = typer.Typer(
    name="audit", help="The audit trail: verify the chain, export.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add ``audit`` to ``app``."""
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify_command(ctx: typer.Context) -> None:
    """Check every entry's hash and link; report the first broken entry."""
    from smslocker.guard.audit import Verdict, verify
    from smslocker.store.migrate import upgrade

    async def run() -> Verdict:
        database = database_for(settings_of(ctx))
        try:
            await upgrade(database)
            return await verify(database)
        finally:
            await database.close()

    verdict = asyncio.run(run())
    if verdict.ok:
        typer.echo(f"ok: {verdict.checked} entries, last hash {verdict.last_hash}")
        return
    typer.echo(
        f"broken at entry {verdict.broken_id}: {verdict.problem} "
        f"({verdict.checked} entries before it are intact)"
    )
    raise typer.Exit(code=1)


def _moment(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint=name) from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give a time zone (e.g. Z or +00:00)", param_hint=name)
    return moment


@audit_app.command("export")
def export_command(
    ctx: typer.Context,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="file (default stdout)")
    ] = None,
    actor: Annotated[str | None, typer.Option(help="only this actor")] = None,
    action: Annotated[str | None, typer.Option(help="only this action")] = None,
    since: Annotated[str | None, typer.Option(help="ISO 8601, inclusive")] = None,
    until: Annotated[str | None, typer.Option(help="ISO 8601, exclusive")] = None,
) -> None:
    """Write the audit entries as JSON lines, oldest first."""
    from smslocker.guard.audit import AuditFilter, iterate, json_line
    from smslocker.store.migrate import upgrade

    where = AuditFilter(actor, action, None, _moment(since, "--since"), _moment(until, "--until"))

    async def run(stream: TextIO) -> int:
        database = database_for(settings_of(ctx))
        count = 0
        try:
            await upgrade(database)
            async for entry in iterate(database, where):
                stream.write(json_line(entry))
                count += 1
        finally:
            await database.close()
        return count

    if output is None:
        asyncio.run(run(sys.stdout))
        return
    with output.open("w", encoding="utf-8") as stream:
        count = asyncio.run(run(stream))
    typer.echo(f"{count} entries written to {output}", err=True)
