"""``smslocker serve``: the platform as one process, or one part of it.

Roles (``--role``):

- ``api``: the HTTP API (:func:`smslocker.api.app.create_app`) under uvicorn;
- ``gateway``: the carrier connectors — those of the settings (``[[connectors]]``) and
  those stored in the database (:class:`~smslocker.gateway.manager.ConnectorManager`,
  one gateway process per connector at a time, the connectors shared out among the
  live gateway processes) — feeding the durable inbox;
- ``worker``: the rentals sweeper, the retention purge and the webhook worker;
- ``all`` (the default): the three in one process, the embedded default.

Roles other than ``api`` still answer ``/healthz``, ``/readyz`` and ``/metrics`` on
the port, for probes and Prometheus.

Start: open the platform (migrations applied), start the parts, then print one JSON
line ``{"event": "ready", "url": ..., "role": ..., ...}`` on stdout (scripts and tests
wait for it; with ``--port 0`` it tells the port chosen). Stop, on SIGTERM or SIGINT:
stop accepting HTTP connections, stop the connectors (their queued messages commit and
are acked first), close the bus (long-polls and streams answer at once), let uvicorn
finish the requests in flight, stop the worker, close the database.

The access log never shows query strings: browsers put the API key in
``?access_token=`` (WebSocket, SSE), and a key must not end up in log files.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from smslocker.signals import wait_for_stop_signal

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from smslocker.gateway import Connector
    from smslocker.gateway.manager import ConnectorManager
    from smslocker.platform import Platform
    from smslocker.routing.ingest import StoreSink
    from smslocker.settings import Settings


class Role(StrEnum):
    ALL = "all"
    API = "api"
    GATEWAY = "gateway"
    WORKER = "worker"

    @property
    def gateway(self) -> bool:
        return self in (Role.ALL, Role.GATEWAY)

    @property
    def worker(self) -> bool:
        return self in (Role.ALL, Role.WORKER)


#: Seconds between sweeps (rental expiry, cooldown), and between retention purges.
SWEEP_INTERVAL = 1.0
PURGE_INTERVAL = 300.0
#: Seconds uvicorn gives requests in flight at shutdown before it cuts them.
GRACEFUL_SHUTDOWN_S = 10


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve_command)


def serve_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="HTTP port (0: any free).")
    ] = 8000,
    role: Annotated[Role, typer.Option("--role", help="Which part(s) to run.")] = Role.ALL,
) -> None:
    """Run the platform: the API, the connectors, the sweeper and the webhook worker."""
    from smslocker.store.cli import settings_of

    try:
        asyncio.run(run_serve(settings_of(ctx), host=host, port=port, role=role))
    except CannotListen as error:
        typer.echo(f"smslocker serve: {error}", err=True)
        raise typer.Exit(code=1) from error


class CannotListen(OSError):
    """The HTTP address is taken, or not ours to listen on."""


# --------------------------------------------------------------------------- the process


@dataclass
class _Parts:
    """What is running, to be stopped in order."""

    app: FastAPI | None = None
    server: uvicorn.Server | None = None
    server_task: asyncio.Task[None] | None = None
    listener: socket.socket | None = None
    sink: StoreSink | None = None
    connectors: list[Connector] = field(default_factory=list)
    manager: ConnectorManager | None = None
    worker_stop: asyncio.Event = field(default_factory=asyncio.Event)
    background: list[asyncio.Task[Any]] = field(default_factory=list)


async def run_serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    role: Role = Role.ALL,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Run ``role`` until ``stop`` is set (default: until SIGTERM or SIGINT)."""
    from smslocker.platform import open_platform
    from smslocker.routing.runner import load_sender_directory

    platform = await open_platform(settings)
    parts = _Parts()
    try:
        parts.listener = _listen(host, port)
        platform.senders = await load_sender_directory(platform.db)
        if role.gateway:
            _start_gateway(platform, parts)
        if role.worker:
            _start_worker(platform, parts)
        await _start_http(platform, parts, role)
        freeze_startup_objects()
        _announce(out or sys.stdout, platform, parts, role)
        await (wait_for_stop_signal() if stop is None else stop.wait())
    finally:
        await _stop(platform, parts)


async def serve_platform(
    platform: Platform,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    role: Role = Role.ALL,
    stop: asyncio.Event,
    out: TextIO | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """:func:`run_serve` on a platform its caller opened (and prepared: ``smslocker demo``
    seeds it first), until ``stop`` is set; the platform is closed on return.
    ``on_ready`` gets the API's URL once the ready line is written."""
    from smslocker.routing.runner import load_sender_directory

    parts = _Parts()
    try:
        parts.listener = _listen(host, port)
        platform.senders = await load_sender_directory(platform.db)
        if role.gateway:
            _start_gateway(platform, parts)
        if role.worker:
            _start_worker(platform, parts)
        await _start_http(platform, parts, role)
        freeze_startup_objects()
        _announce(out or sys.stdout, platform, parts, role)
        if on_ready is not None:
            on_ready(_url_of(parts))
        await stop.wait()
    finally:
        await _stop(platform, parts)


def freeze_startup_objects() -> None:
    """Keep what startup made out of every later garbage collection.

    Imports, the app and its routes, the ORM's mappers and the settings leave some
    170,000 objects that live as long as the process. CPython's full collection
    (generation 2, due every few seconds under load) walks every one of them with the
    event loop stopped: 40 to 190 ms on this machine, which was the p99 of push latency
    (issue 4, ``bench/ws_latency.py``). :func:`gc.freeze` puts them in the permanent
    generation, which no collection visits; collecting first keeps startup's garbage
    out of it. Later collections still find every cycle made after startup.
    """
    gc.collect()
    gc.freeze()


def _url_of(parts: _Parts) -> str:
    assert parts.listener is not None
    host, port = parts.listener.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _start_gateway(platform: Platform, parts: _Parts) -> None:
    from smslocker.gateway import Connector
    from smslocker.gateway.manager import ConnectorManager

    # The sink publishes message.received on the bus and writes the webhook outbox.
    parts.sink = platform.ingest_sink()
    parts.connectors = [
        Connector(config, parts.sink) for config in platform.settings.connector_configs()
    ]
    for connector in parts.connectors:
        connector.start()
    # The connectors stored in the database (admin API, `smslocker connectors ...`).
    parts.manager = ConnectorManager(platform, parts.sink, _owner_id())
    parts.manager.start()


def _start_worker(platform: Platform, parts: _Parts) -> None:
    from smslocker.delivery.outbox import purge_deliveries
    from smslocker.delivery.rental_events import RentalEvents
    from smslocker.delivery.worker import run_worker
    from smslocker.pool.prober import run_prober
    from smslocker.rentals import run_sweeper
    from smslocker.routing.retention import purge

    policy, retention = platform.settings.policy, platform.settings.retention
    parts.background += [
        asyncio.create_task(
            run_sweeper(
                platform.db,
                policy,
                interval=SWEEP_INTERVAL,
                clock=platform.clock,
                observer=RentalEvents(platform.clock, platform.bus),
            ),
            name="sweeper",
        ),
        asyncio.create_task(
            _every(PURGE_INTERVAL, "purge", lambda: purge(platform.db, platform.now(), retention)),
            name="purge",
        ),
        asyncio.create_task(
            _every(
                PURGE_INTERVAL,
                "webhook-purge",
                lambda: purge_deliveries(
                    platform.db, platform.now() - timedelta(seconds=retention.body_s)
                ),
            ),
            name="webhook-purge",
        ),
        asyncio.create_task(run_worker(platform, parts.worker_stop), name="webhook-worker"),
        asyncio.create_task(
            run_prober(
                platform.db,
                policy,
                clock=platform.clock,
                extra_configs=platform.settings.connector_configs(),
            ),
            name="prober",
        ),
    ]


def _listen(host: str, port: int) -> socket.socket:
    """The HTTP socket, bound first: the port is known (also for ``--port 0``) at
    "ready", and a taken port stops the process before anything else started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise CannotListen(f"cannot listen on {host}:{port}: {error.strerror or error}") from error


async def _start_http(platform: Platform, parts: _Parts, role: Role) -> None:
    import uvicorn

    app = parts.app = _app_for(platform, role)
    # What the admin and ingest routes reach: the live connectors, and the one ingest
    # sink that SMPP connectors and HTTP ingress share (routes make their own without).
    app.state.connector_manager = parts.manager
    if parts.sink is not None:
        app.state.ingest_sink = parts.sink
    listener = parts.listener
    assert listener is not None
    config = uvicorn.Config(
        app,
        log_config=None,  # our logging (smslocker.log), not uvicorn's dictConfig
        access_log=True,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        proxy_headers=False,
        # Pushed events are small JSON objects sent the moment they happen: compressing
        # each costs more time (and per-connection memory) than it saves on the wire.
        ws_per_message_deflate=False,
    )
    install_access_log_filter()
    parts.server = _embedded_server(config)
    parts.server_task = asyncio.create_task(parts.server.serve(sockets=[listener]), name="http")
    while not parts.server.started:
        if parts.server_task.done():
            parts.server_task.result()  # startup failed: raise its error here
            raise RuntimeError("the HTTP server stopped during startup")
        await asyncio.sleep(0.01)


def _app_for(platform: Platform, role: Role) -> FastAPI:
    if role in (Role.ALL, Role.API):
        from smslocker.api.app import create_app

        return create_app(platform)
    from fastapi import FastAPI

    from smslocker.api.routes import health

    app = FastAPI(title=f"smslocker {role.value}", docs_url=None, redoc_url=None)
    app.state.platform = platform
    app.include_router(health.router)
    return app


async def _stop(platform: Platform, parts: _Parts) -> None:
    from smslocker.log import get_logger

    log = get_logger(__name__)
    log.info("serve.stopping")
    if parts.server is not None:
        parts.server.should_exit = True  # stop accepting; requests in flight go on
    if parts.manager is not None:
        await parts.manager.close()
    await asyncio.gather(*(connector.stop() for connector in parts.connectors))
    if parts.sink is not None:
        await parts.sink.close()
    await platform.bus.close()  # long-polls and streams answer now
    if parts.server_task is not None:
        with contextlib.suppress(Exception):
            await parts.server_task
    await _close_route_sink(parts)
    guard = getattr(parts.app.state, "guard", None) if parts.app is not None else None
    if guard is not None:
        await guard.aclose()  # the rate-limit counters' Redis connections
    if parts.listener is not None:
        parts.listener.close()
    parts.worker_stop.set()
    for task in parts.background:
        if task.get_name() != "webhook-worker":
            task.cancel()
    await asyncio.gather(*parts.background, return_exceptions=True)
    await platform.close()
    log.info("serve.stopped")


async def _close_route_sink(parts: _Parts) -> None:
    """Commit and close the sink the ingest route made for itself (role ``api``)."""
    from smslocker.routing.ingest import StoreSink

    sink = getattr(parts.app.state, "ingest_sink", None) if parts.app is not None else None
    if isinstance(sink, StoreSink) and sink is not parts.sink:
        await sink.close()


# --------------------------------------------------------------------------- helpers


def _owner_id() -> str:
    """This process, as a connector lease owner: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def _every(interval: float, name: str, action: Callable[[], Awaitable[object]]) -> None:
    """Run ``action`` every ``interval`` seconds; an error is logged, the loop goes on."""
    from smslocker.log import get_logger

    log = get_logger(__name__)
    while True:
        try:
            await action()
        except Exception as error:  # a database hiccup must not end the task for good
            log.error(f"serve.{name}_failed", error=repr(error))
        await asyncio.sleep(interval)


def _announce(out: TextIO, platform: Platform, parts: _Parts, role: Role) -> None:
    assert parts.listener is not None
    host, port = parts.listener.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    ready = {
        "event": "ready",
        "role": role.value,
        "url": f"http://{shown}:{port}",
        "database": platform.settings.resolved_database_url().split("://", 1)[0],
        "bus": "redis" if platform.settings.redis_url else "in-process",
        "connectors": [connector.config.name for connector in parts.connectors],
    }
    out.write(json.dumps(ready) + "\n")
    out.flush()


def _embedded_server(config: uvicorn.Config) -> uvicorn.Server:
    """A uvicorn server without its own signal handlers: this process owns SIGTERM and
    SIGINT (uvicorn's would re-raise the signal after its own shutdown, ending the
    process before the connectors and the worker have stopped)."""
    import uvicorn

    class EmbeddedServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    return EmbeddedServer(config)


class QueryStringFilter(logging.Filter):
    """Drops the query string from uvicorn's access log lines (see the module docstring).

    uvicorn logs ``'%s - "%s %s HTTP/%s" %d'`` with (client, method, path with query,
    http version, status); the third argument loses everything from ``?`` on.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def install_access_log_filter() -> None:
    """Put :class:`QueryStringFilter` on uvicorn's access logger (once)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, QueryStringFilter) for existing in access.filters):
        access.addFilter(QueryStringFilter())


__all__ = [
    "CannotListen",
    "QueryStringFilter",
    "Role",
    "install_access_log_filter",
    "register",
    "run_serve",
    "serve_platform",
]
