"""The ``smslocker`` command line.

Every command runs after :func:`main`, which reads the settings and configures logging,
and finds the settings in ``ctx.obj``.

Adding a command: write an ``@app.command()`` function below, declare its options with
``Annotated[..., typer.Option(...)]``, and import the modules it needs *inside* the function,
so that ``smslocker --version`` and the other commands don't pay for (or break on) imports
they don't use::

    @app.command()
    def listen(
        ctx: typer.Context,
        host: Annotated[str, typer.Option(help="SMSC host")] = "127.0.0.1",
    ) -> None:
        \"\"\"Bind to an SMSC and print one JSON line per received message.\"\"\"
        from smslocker.gateway.listen import run_listen

        run_listen(settings_from(ctx), host=host)

Data goes to stdout (``typer.echo``); diagnostics go to the log, which writes to stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from smslocker import __version__
from smslocker.log import configure_logging
from smslocker.settings import ConfigFileNotFoundError, Settings, get_settings

app = typer.Typer(
    name="smslocker",
    help="smslocker: rent a number, receive its SMS.",
    no_args_is_help=True,
    add_completion=False,
    # Locals of a crashed command may hold passwords and message bodies.
    pretty_exceptions_show_locals=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"smslocker {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """smslocker: rent a number, receive its SMS."""
    try:
        settings = get_settings()
    except (ValidationError, ConfigFileNotFoundError) as error:
        typer.echo(f"smslocker: invalid settings:\n{error}", err=True)
        raise typer.Exit(code=2) from error
    configure_logging(settings)
    ctx.obj = settings


def settings_from(ctx: typer.Context) -> Settings:
    """The settings that :func:`main` loaded for this invocation."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):  # a command invoked without the callback
        settings = get_settings()
    return settings


# --------------------------------------------------------------------------- commands


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"smslocker {__version__}")


@app.command()
def listen(
    host: Annotated[str, typer.Option(help="SMSC host")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="SMSC SMPP port")] = 2775,
    system_id: Annotated[str, typer.Option("--system-id", help="bind system_id")] = "smslocker",
    password: Annotated[str, typer.Option(help="bind password")] = "",
    bind: Annotated[str, typer.Option(help="receiver or transceiver")] = "transceiver",
    system_type: Annotated[str, typer.Option("--system-type", help="bind system_type")] = "",
    address_range: Annotated[str, typer.Option("--address-range")] = "",
    addr_ton: Annotated[int, typer.Option("--addr-ton")] = 0,
    addr_npi: Annotated[int, typer.Option("--addr-npi")] = 0,
    tls: Annotated[bool, typer.Option(help="connect with TLS")] = False,
    name: Annotated[str, typer.Option(help="connector name in the output")] = "listen",
    enquire_link_interval: Annotated[float, typer.Option("--enquire-link-interval")] = 30.0,
) -> None:
    """Bind to an SMSC and print one JSON line per received message."""
    import asyncio

    from smslocker.gateway.config import BindType, ConnectorConfig
    from smslocker.gateway.listen import listen as run_listen

    if bind not in ("receiver", "transceiver"):
        typer.echo("smslocker listen: --bind is receiver or transceiver", err=True)
        raise typer.Exit(code=2)
    try:
        config = ConnectorConfig(
            name=name,
            host=host,
            port=port,
            system_id=system_id,
            password=password,
            bind=BindType(bind),
            system_type=system_type,
            address_range=address_range,
            addr_ton=addr_ton,
            addr_npi=addr_npi,
            tls=tls,
            enquire_link_interval=enquire_link_interval,
        )
    except ValidationError as error:
        typer.echo(f"smslocker listen: {error}", err=True)
        raise typer.Exit(code=2) from error
    asyncio.run(run_listen(config))


def _register_demo_command() -> None:
    from smslocker.demo import register

    register(app)  # demo


_register_demo_command()


def _register_simulator_commands() -> None:
    from smslocker.simulator.cli import register

    register(app)


_register_simulator_commands()


def _register_store_and_pool_commands() -> None:
    from smslocker.pool.cli import register as register_numbers
    from smslocker.store.cli import register as register_db

    register_db(app)
    register_numbers(app)


_register_store_and_pool_commands()


@app.command()
def gateway(ctx: typer.Context) -> None:
    """Run a gateway: bind the configured connectors, store what arrives, until SIGTERM."""
    import asyncio

    from smslocker.routing.runner import run_gateway

    asyncio.run(run_gateway(settings_from(ctx)))


def _register_platform_commands() -> None:
    from smslocker.accounts.cli import register as register_accounts
    from smslocker.gateway.cli import register as register_connectors
    from smslocker.guard.cli import register as register_audit
    from smslocker.privacy.cli import register as register_privacy
    from smslocker.serve import register as register_serve

    register_accounts(app)  # keys, accounts
    register_serve(app)  # serve
    register_connectors(app)  # connectors
    register_audit(app)  # audit verify / export
    register_privacy(app)  # privacy status / rotate-key / reencrypt / drop-key


_register_platform_commands()
