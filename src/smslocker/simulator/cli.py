"""``smslocker simulate`` and ``smslocker send``: the simulator from a shell.

The functions here are plain; :func:`register` adds them to the main typer
app. Their option names are a contract (benchmarks and ``make demo`` use
them). Data goes to stdout — the load report or the ``send`` answer as one
JSON line — and diagnostics to the log on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import ssl
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .behaviour import Mode

if TYPE_CHECKING:
    import httpx

    from .core import SimulatorConfig


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``send`` to ``app``."""
    app.command("simulate")(simulate)
    app.command("send")(send)


def simulate(
    smpp_port: Annotated[int, typer.Option("--smpp-port", help="SMPP port (0: any free)")] = 2775,
    http_port: Annotated[
        int, typer.Option("--http-port", help="HTTP API port (0: any free)")
    ] = 8775,
    system_id: Annotated[
        str | None,
        typer.Option("--system-id", help="The one account allowed to bind (default: anyone)."),
    ] = None,
    password: Annotated[str, typer.Option("--password", help="That account's password.")] = "",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    mode: Annotated[Mode, typer.Option("--mode", help="Misbehaviour mode.")] = Mode.NORMAL,
    mode_count: Annotated[
        int, typer.Option("--mode-count", min=0, help="unbind / drop_after: after N deliver_sm.")
    ] = 0,
    mode_delay: Annotated[
        float, typer.Option("--mode-delay", min=0, help="slow_acks: seconds per answer.")
    ] = 1.0,
    redelivery_delay: Annotated[
        float, typer.Option("--redelivery-delay", min=0, help="Seconds before a redelivery.")
    ] = 1.0,
    window: Annotated[
        int, typer.Option("--window", min=1, help="deliver_sm unanswered per session.")
    ] = 10,
    tls_cert: Annotated[
        str | None, typer.Option("--tls-cert", help="PEM certificate: serve SMPP over TLS.")
    ] = None,
    tls_key: Annotated[str | None, typer.Option("--tls-key", help="PEM key of --tls-cert.")] = None,
    load: Annotated[
        int | None,
        typer.Option("--load", min=1, help="Wait for a bind, send N messages, report, exit."),
    ] = None,
    load_rate: Annotated[
        float, typer.Option("--load-rate", min=0, help="Messages per second (0: flat out).")
    ] = 0.0,
    load_numbers: Annotated[
        int, typer.Option("--load-numbers", min=1, help="Destination numbers to spread over.")
    ] = 1,
    load_window: Annotated[
        int, typer.Option("--load-window", min=1, help="Load messages unanswered per session.")
    ] = 100,
    load_binds: Annotated[
        int,
        typer.Option(
            "--load-binds", min=1, help="Receivers to wait for before a --load run starts."
        ),
    ] = 1,
) -> None:
    """Run the SMSC simulator: ESMEs bind over SMPP, messages are injected over HTTP."""
    from .behaviour import ModeSettings
    from .core import Account, SimulatorConfig

    ssl_context = None
    if tls_cert:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(tls_cert, tls_key)
    config = SimulatorConfig(
        host=host,
        port=smpp_port,
        accounts=(Account(system_id, password),) if system_id else (),
        ssl=ssl_context,
        mode=ModeSettings(mode, count=mode_count, delay=mode_delay),
        window=window,
        redelivery_delay=redelivery_delay,
    )
    load_settings = (
        None if load is None else (load, load_rate, load_numbers, load_window, load_binds)
    )
    try:
        asyncio.run(_simulate(config, http_port, load_settings))
    except OSError as error:  # the port is taken, the address is not ours, ...
        typer.echo(f"smslocker simulate: {error}", err=True)
        raise typer.Exit(code=1) from error


async def _simulate(
    config: SimulatorConfig, http_port: int, load: tuple[int, float, int, int, int] | None
) -> None:
    from .http import HttpApi
    from .smsc import Simulator

    simulator = Simulator(config)
    await simulator.start()
    api = HttpApi(simulator, config.host, http_port)
    try:
        await api.start()
        if load is None:
            typer.echo(
                json.dumps({"event": "ready", "smpp_port": simulator.port, "http_port": api.port})
            )
            await _until_signalled()
        else:
            count, rate, numbers, window, binds = load
            await simulator.wait_for_receiver(count=binds)
            report = await simulator.run_load(count, rate, numbers, window)
            typer.echo(report.to_json())
    finally:
        await api.stop()
        # After a load the receiver may be gone or deaf to unbind: do not linger.
        await simulator.stop(timeout=2.0 if load is None else 0.5)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Not possible off the main thread or on Windows: then only the process's end stops us.
    unsupported = (NotImplementedError, RuntimeError, ValueError)
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(*unsupported):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(*unsupported):
                loop.remove_signal_handler(signum)


def send(
    simulator: Annotated[
        str, typer.Option("--simulator", help="The simulator's HTTP API.")
    ] = "http://127.0.0.1:8775",
    source: Annotated[str, typer.Option("--source", help="Sender (number or name).")] = "",
    destination: Annotated[str, typer.Option("--destination", help="Recipient number.")] = "",
    text: Annotated[str, typer.Option("--text", help="The message.")] = "",
    data_coding: Annotated[
        int | None, typer.Option("--data-coding", help="Default: GSM 03.38 if it fits, else UCS2.")
    ] = None,
    split: Annotated[
        str | None, typer.Option("--split", help="udh8, udh16, sar or payload.")
    ] = None,
    shuffle: Annotated[
        bool, typer.Option("--shuffle", help="Send the parts out of order.")
    ] = False,
) -> None:
    """Inject an MO message into a running simulator (POST /mo) and print its answer."""
    import httpx

    if not source or not destination:
        typer.echo("smslocker send: --source and --destination are required", err=True)
        raise typer.Exit(code=2)
    body: dict[str, Any] = {"source": source, "destination": destination, "text": text}
    if data_coding is not None:
        body["data_coding"] = data_coding
    if split is not None:
        body["split"] = split
    if shuffle:
        body["shuffle"] = True
    url = simulator.rstrip("/") + "/mo"
    try:
        response = httpx.post(url, json=body, timeout=10.0)
    except httpx.HTTPError as error:
        typer.echo(f"smslocker send: cannot reach the simulator at {url}: {error}", err=True)
        raise typer.Exit(code=1) from error
    if response.status_code >= 400:
        typer.echo(f"smslocker send: {response.status_code}: {_detail(response)}", err=True)
        raise typer.Exit(code=1)
    typer.echo(response.text)


def _detail(response: httpx.Response) -> str:
    """The error message of an API answer: FastAPI's ``detail``, flattened."""
    try:
        detail = response.json().get("detail", response.text)
    except (ValueError, AttributeError):  # not JSON, or not an object
        return response.text
    if isinstance(detail, list):  # pydantic errors: where and what
        return "; ".join(
            f"{'.'.join(str(p) for p in item.get('loc', [])[1:])}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        )
    return str(detail)
