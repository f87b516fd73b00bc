"""The gateway process: connectors bound to carriers, feeding the durable inbox.

``smslocker gateway`` runs :func:`run_gateway` until SIGTERM or SIGINT:

1. open the database from the settings and apply the migrations;
2. build the :class:`~.ingest.StoreSink` (with the operator's sender table loaded
   into the sender directory, the pool's probe completion when it has one, and the
   bus: Redis when ``redis_url`` is set, so that the API processes' WebSocket and SSE
   subscribers hear of the messages this process stores);
3. start one :class:`~smslocker.gateway.Connector` per ``[[connectors]]`` entry;
4. run the rentals sweeper and the retention purge in the background;
5. print one JSON line ``{"event": "ready", ...}`` on stdout (tests and scripts wait
   for it), then wait for a signal.

Stopping is the reverse: each connector lets its sink calls finish (so their PDUs
are acked) and unbinds, the sink commits what is queued, the background tasks
stop, the database closes. A SIGKILL instead loses nothing either: what was not
acked is redelivered by the SMSC, and de-duplication keeps the inbox exact.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TextIO

from sqlalchemy import select

from smslocker.delivery.bus import open_bus
from smslocker.gateway import Connector
from smslocker.log import get_logger
from smslocker.privacy.keyring import KeyRing
from smslocker.routing.senders import SenderDirectory
from smslocker.screening.store import rule_cache
from smslocker.settings import Settings
from smslocker.signals import wait_for_stop_signal
from smslocker.store import open_database, upgrade
from smslocker.store.db import Database
from smslocker.store.models import SenderService
from smslocker.store.types import utcnow

from .ingest import StoreSink, default_probe_completer
from .retention import purge

log = get_logger(__name__)

#: Seconds between sweeps (rental expiry, cooldown) and between retention purges.
SWEEP_INTERVAL = 1.0
PURGE_INTERVAL = 300.0


async def run_gateway(
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Run the gateway until ``stop`` is set (default: until SIGTERM or SIGINT)."""
    if settings.database_url is None:
        settings.ensure_data_dir()
    database = open_database(
        settings.resolved_database_url(),
        sqlite_synchronous=settings.sqlite.synchronous,
        sqlite_writes_on_loop=settings.sqlite.writes_on_loop,
    )
    bus = open_bus(settings.redis_url)
    try:
        await upgrade(database)
        directory = await load_sender_directory(database)
        sink = StoreSink(
            database,
            settings.ingest,
            clock=clock,
            guess_service=directory.guess_service,
            complete_probe=default_probe_completer(),
            bus=bus,
            ring=(
                KeyRing.load_or_create(settings.resolved_key_file())
                if settings.privacy.encrypt_bodies
                else None
            ),
            screen=rule_cache(database).rules,  # inbound filters (smslocker.screening)
        )
        connectors = [Connector(config, sink) for config in settings.connector_configs()]
        background = [
            asyncio.create_task(
                _every(SWEEP_INTERVAL, "sweep", _sweeper(database, settings, clock))
            ),
            asyncio.create_task(
                _every(
                    PURGE_INTERVAL, "purge", lambda: purge(database, clock(), settings.retention)
                )
            ),
        ]
        for connector in connectors:
            connector.start()
        _announce(out or sys.stdout, settings, connectors)
        try:
            await (wait_for_stop_signal() if stop is None else stop.wait())
        finally:
            log.info("gateway.stopping")
            await asyncio.gather(*(connector.stop() for connector in connectors))
            await sink.close()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            log.info("gateway.stopped", **vars(sink.stats))
    finally:
        await bus.close()
        await database.close()


async def load_sender_directory(database: Database) -> SenderDirectory:
    """The built-in sender table with the operator's ``sender_services`` rows on top."""
    async with database.read() as connection:
        rows = (await connection.execute(select(SenderService.sender, SenderService.service))).all()
    directory = SenderDirectory()
    for sender, service in rows:
        try:
            directory.extend({sender: service})
        except ValueError as error:  # one bad operator row must not stop the gateway
            log.warning("gateway.bad_sender_service", sender=sender, error=str(error))
    return directory


def _sweeper(
    database: Database, settings: Settings, clock: Callable[[], datetime]
) -> Callable[[], Awaitable[object]] | None:
    """The rentals sweeper, if the rentals package has one (it is optional here)."""
    try:
        from smslocker.rentals.sweeper import sweep
    except ImportError:
        return None
    return lambda: sweep(database, clock(), settings.policy)


async def _every(
    interval: float, name: str, action: Callable[[], Awaitable[object]] | None
) -> None:
    """Run ``action`` every ``interval`` seconds; an error is logged, the loop goes on."""
    if action is None:
        return
    while True:
        try:
            await action()
        except Exception as error:  # a database hiccup must not end the task for good
            log.error(f"gateway.{name}_failed", error=repr(error))
        await asyncio.sleep(interval)


def _announce(out: TextIO, settings: Settings, connectors: list[Connector]) -> None:
    ready = {
        "event": "ready",
        "database": settings.resolved_database_url().split("://", 1)[0],
        "connectors": [connector.config.name for connector in connectors],
    }
    out.write(json.dumps(ready) + "\n")
    out.flush()


__all__ = ["load_sender_directory", "run_gateway"]
