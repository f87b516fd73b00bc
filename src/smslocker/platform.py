"""The running platform's shared parts: settings, database, bus, clock, sender directory,
key ring.

One :class:`Platform` per process; the API, the connectors, the sweeper and the webhook
worker all take what they need from it. Tests build one on a temporary database and a
fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from smslocker.delivery.bus import Bus, open_bus
from smslocker.privacy.keyring import KeyRing
from smslocker.routing.senders import SenderDirectory
from smslocker.settings import Settings
from smslocker.store import Database, upgrade
from smslocker.store.types import utcnow

if TYPE_CHECKING:
    from smslocker.guard.reads import ReadTrail
    from smslocker.routing.ingest import StoreSink


@dataclass
class Platform:
    settings: Settings
    db: Database
    bus: Bus
    clock: Callable[[], datetime] = utcnow
    senders: SenderDirectory = field(default_factory=SenderDirectory)
    #: Seals message bodies at rest; None stores them in clear (``privacy.encrypt_bodies``).
    keyring: KeyRing | None = None
    _read_trail: ReadTrail | None = field(default=None, init=False, repr=False)

    def now(self) -> datetime:
        return self.clock()

    @property
    def read_trail(self) -> ReadTrail:
        """The ``message.read`` audit of pushed messages, one writer for every stream
        (:mod:`smslocker.guard.reads`)."""
        if self._read_trail is None:
            from smslocker.guard.reads import ReadTrail

            self._read_trail = ReadTrail(self.db, self.clock)
        return self._read_trail

    def ingest_sink(self) -> StoreSink:
        """The ingest sink of this platform: its database, clock, sender directory, bus,
        key ring and inbound filters, with health probes settled (connectors and the
        HTTP ingress both feed one)."""
        from smslocker.routing.ingest import StoreSink, default_probe_completer
        from smslocker.screening.store import rule_cache

        return StoreSink(
            self.db,
            self.settings.ingest,
            clock=self.clock,
            guess_service=self.senders.guess_service,
            complete_probe=default_probe_completer(),
            bus=self.bus,
            ring=self.keyring,
            screen=rule_cache(self.db).rules,
        )

    async def close(self) -> None:
        if self._read_trail is not None:
            await self._read_trail.flush()
        await self.bus.close()
        await self.db.close()


async def open_platform(
    settings: Settings, *, migrate: bool = True, clock: Callable[[], datetime] = utcnow
) -> Platform:
    """Open the database (applying migrations unless told not to) and the bus."""
    if settings.database_url is None:
        settings.ensure_data_dir()
    db = Database(
        settings.resolved_database_url(),
        sqlite_synchronous=settings.sqlite.synchronous,
        sqlite_writes_on_loop=settings.sqlite.writes_on_loop,
    )
    if migrate:
        await upgrade(db)
    keyring = (
        KeyRing.load_or_create(settings.resolved_key_file())
        if settings.privacy.encrypt_bodies
        else None
    )
    return Platform(
        settings=settings,
        db=db,
        bus=open_bus(settings.redis_url),
        clock=clock,
        keyring=keyring,
    )
