"""``smslocker numbers import / list / show``: the pool from a shell.

:func:`register` adds the ``numbers`` sub-app to the main typer app. Data (the import
summary, lists) goes to stdout; the progress bar goes to stderr. Commands apply the
migrations first, as ``serve`` and ``demo`` do, so a fresh data folder just works.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from smslocker.store.cli import database_for, settings_of

if TYPE_CHECKING:
    from smslocker.store.db import Database

    from .importer import ImportReport

numbers_app = typer.Typer(name="numbers", help="The pool of numbers.", no_args_is_help=True)

#: Files with fewer rows import too fast for a progress bar to be worth drawing.
PROGRESS_MIN_ROWS = 1000
#: Files with fewer rows are validated in-process: starting workers would take longer.
WORKERS_MIN_ROWS = 20_000


def default_workers(rows: int) -> int:
    """Validating processes for a file of ``rows``: one per core (storing takes a fifth
    of what validating does, so the importing process leaves its core mostly idle)."""
    if rows < WORKERS_MIN_ROWS:
        return 0
    return os.cpu_count() or 1


def register(app: typer.Typer) -> None:
    """Add ``numbers`` to ``app``."""
    app.add_typer(numbers_app, name="numbers")


async def _migrated(ctx: typer.Context) -> Database:
    from smslocker.store.migrate import upgrade

    database = database_for(settings_of(ctx))
    await upgrade(database)
    return database


@numbers_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV: number[,country,carrier,source,tags]")],
    connector: Annotated[
        str | None, typer.Option("--connector", help="Connector the numbers terminate on.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows per transaction.")
    ] = 5000,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=0, help="Validating processes (default: by file size)."),
    ] = None,
) -> None:
    """Import numbers from a CSV file; invalid rows are listed and skipped."""
    from .importer import CsvFormatError, count_data_lines, import_csv

    if not file.is_file():
        typer.echo(f"smslocker numbers import: no such file {file}", err=True)
        raise typer.Exit(code=2)

    rows = count_data_lines(file)

    async def run() -> ImportReport:
        database = await _migrated(ctx)
        try:
            with ImportProgress(rows) as progress:
                return await import_csv(
                    database,
                    file,
                    connector=connector,
                    now=datetime.now(UTC),
                    batch_size=batch_size,
                    progress=progress,
                    workers=default_workers(rows) if workers is None else workers,
                )
        finally:
            await database.close()

    try:
        report = asyncio.run(run())
    except (CsvFormatError, UnicodeDecodeError, ValueError) as error:
        typer.echo(f"smslocker numbers import: {file}: {error}", err=True)
        raise typer.Exit(code=2) from error
    _print_report(report)


class ImportProgress:
    """A rich progress bar on stderr, or nothing for small files."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self._progress = Progress(
            console=Console(stderr=True), disable=total < PROGRESS_MIN_ROWS, transient=False
        )
        self._task = self._progress.add_task("importing", total=total)

    def __enter__(self) -> ImportProgress:
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._progress.stop()

    def __call__(self, done: int) -> None:
        self._progress.update(self._task, completed=done)


def _print_report(report: ImportReport) -> None:
    typer.echo(
        f"imported {report.imported}, updated {report.updated}, rejected {len(report.rejected)}"
    )
    for rejected in report.rejected:
        typer.echo(f"line {rejected.line}: {rejected.number!r}: {rejected.reason}")


@numbers_app.command("list")
def list_command(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option("--state", help="FREE, RESERVED, ...")] = None,
    country: Annotated[str | None, typer.Option("--country", help="ISO code, e.g. US")] = None,
    connector: Annotated[str | None, typer.Option("--connector")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
) -> None:
    """List numbers of the pool, one per line."""
    from .numbers import list_numbers

    async def run() -> None:
        database = await _migrated(ctx)
        try:
            numbers = await list_numbers(
                database,
                state=state.upper() if state else None,
                country=country,
                connector=connector,
                limit=limit,
            )
        finally:
            await database.close()
        for number in numbers:
            typer.echo(
                "\t".join(
                    str(value or "-")
                    for value in (
                        number.e164,
                        number.country,
                        number.line_type,
                        number.carrier,
                        number.state,
                        number.connector,
                        number.rentals_count,
                    )
                )
            )

    asyncio.run(run())


@numbers_app.command("show")
def show_command(
    ctx: typer.Context,
    number: Annotated[str, typer.Argument(help="The number, +E.164 or national with --country")],
    country: Annotated[str | None, typer.Option("--country")] = None,
) -> None:
    """Show one number: its row and its service tags."""
    from .numbers import get_number, service_tags_of
    from .phone import InvalidNumber, normalise

    try:
        e164 = normalise(number, country=country).e164
    except InvalidNumber as error:
        typer.echo(f"smslocker numbers show: {error}", err=True)
        raise typer.Exit(code=2) from error

    async def run() -> None:
        database = await _migrated(ctx)
        try:
            found = await get_number(database, e164)
            tags = [] if found is None else await service_tags_of(database, found.id)
        finally:
            await database.close()
        if found is None:
            typer.echo(f"smslocker numbers show: {e164} is not in the pool", err=True)
            raise typer.Exit(code=1)
        for field in fields(found):
            typer.echo(f"{field.name}: {getattr(found, field.name)}")
        for tag in tags:
            failing = " FAILING" if tag.failing else ""
            typer.echo(f"service {tag.service}: uses {tag.uses}, last {tag.last_used_at}{failing}")

    asyncio.run(run())


@numbers_app.command("probe")
def probe_command(
    ctx: typer.Context,
    connector: Annotated[
        str | None, typer.Option("--connector", help="Only this connector's numbers.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Numbers per connector.")] = 20,
    bind_timeout: Annotated[
        float, typer.Option("--bind-timeout", min=0.1, help="Seconds to wait for each bind.")
    ] = 10.0,
) -> None:
    """Send one round of health probes now (``serve`` does it every probe_interval_s).

    Prints one line per connector: probes sent, or why it was skipped. The echoes are
    settled by the running gateway's ingest; the sweeper fails those that never come.
    """
    from .prober import probe_configs, probe_connectors

    async def run() -> None:
        settings = settings_of(ctx)
        database = await _migrated(ctx)
        try:
            configs = await probe_configs(database, settings.connector_configs())
            if connector is not None:
                configs = [config for config in configs if config.name == connector]
                if not configs:
                    typer.echo(f"smslocker numbers probe: no connector {connector!r}", err=True)
                    raise typer.Exit(code=1)
            now = datetime.now(UTC)
            rounds = await probe_connectors(database, configs, now, settings.policy, limit=limit)
        finally:
            await database.close()
        for name, done in rounds.items():
            if done is None:
                typer.echo(f"{name}: skipped (cannot bind to its SMSC)")
            else:
                typer.echo(f"{name}: {len(done.sent)} probes sent, {done.unsent} unsent")

    asyncio.run(run())


__all__ = ["numbers_app", "register"]
