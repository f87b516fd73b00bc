"""The connectors of the database, each run by exactly one gateway process at a time.

Theory of operation: a :class:`ConnectorManager` reconciles, every ``interval`` seconds
(and at once when :meth:`~ConnectorManager.wake` is called), what it runs with what the
``connectors`` table wants:

1. it reads the table;
2. it stops what it runs that is no longer wanted (removed, disabled, made an HTTP
   ingress) or was changed (``updated_at`` moved: it binds again with the new settings);
3. in one transaction it renews its row in ``gateway_processes`` (alive until the end
   of the leases it takes now), counts the live gateway processes, and claims its fair
   share of the enabled SMPP connectors: their number over the live processes, rounded
   up. It renews the leases it holds first (up to the share), then takes free or
   expired ones. Each claim is a compare-and-set ``UPDATE ... WHERE lease_owner IS NULL
   OR lease_owner = :me OR lease_until < :now``, which also writes the connector's
   status (``status``, ``status_at``, ``last_error``) for every API process to show;
   the transaction gives up every other lease it holds (the connectors of step 2, and
   any claim that failed because the row was disabled or changed after step 1);
4. it starts a :class:`~.connector.Connector` for each lease it won and does not run
   yet, and stops each one whose lease it did not win (another process took it, or the
   row changed meanwhile);
5. it stops the connectors it holds beyond its share (a gateway process joined), and
   only then gives up their leases, so the process that takes one next round binds
   after this one has unbound.

So N gateway processes share the binds, each runs about 1/N of them, and ingest scales
with processes (on PostgreSQL; an embedded SQLite has one process). A process that dies
stops renewing: its row and leases run out together, the share of the others grows,
and they take its connectors over.

The database decides every claim atomically (PostgreSQL re-checks the ``WHERE`` on the
row another transaction just committed; SQLite has one writer), so two managers never
both win a connector (DESIGN.md: no double binds when gateways come and go). A process
that cannot reach the database fences itself: it stops each connector ``margin`` seconds
before that connector's lease runs out, so it has unbound by the time another process
may take the lease. Leases compare the clocks of different processes: they must agree
to within the margin (NTP does far better).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from smslocker.log import get_logger
from smslocker.metrics import CONNECTOR_STATE
from smslocker.store.models import ConnectorRow, GatewayProcess

from .config import ConnectorConfig
from .connector import Connector, ConnectorState
from .messages import Sink
from .registry import HTTP, ConnectorRecord, InvalidConnector, config_of, list_connectors

if TYPE_CHECKING:
    from smslocker.platform import Platform

log = get_logger(__name__)

#: Status written for a connector whose stored settings make no valid bind.
ERROR = "error"
#: Status of a connector this process won but has not started yet.
STARTING = "starting"

ConnectorFactory = Callable[[ConnectorConfig, Sink], Connector]


@dataclass(frozen=True, slots=True)
class LiveState:
    """What this process knows of a connector it runs (for the API and the console)."""

    name: str
    state: str
    owner: str
    lease_until: datetime
    last_error: str | None
    stats: dict[str, Any]


@dataclass(slots=True)
class _Running:
    record: ConnectorRecord
    lease_until: datetime
    connector: Connector | None = None
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.connector is None:
            return ERROR if self.error else STARTING
        return self.connector.state.value

    @property
    def last_error(self) -> str | None:
        if self.connector is None:
            return self.error
        return self.connector.stats.last_error


class ConnectorManager:
    """Runs the stored connectors this process holds the lease of. See the module docstring."""

    def __init__(
        self,
        platform: Platform,
        sink: Sink,
        owner_id: str,
        *,
        lease_s: float = 15.0,
        interval: float = 3.0,
        connector_factory: ConnectorFactory = Connector,
    ) -> None:
        if not 0 < interval < lease_s:
            raise ValueError("the interval must be shorter than the lease")
        self.platform = platform
        self.sink = sink
        self.owner_id = owner_id
        self.lease = timedelta(seconds=lease_s)
        self.interval = interval
        # Stop this long before a lease we could not renew runs out (see the docstring).
        self.margin = timedelta(seconds=min(interval, lease_s / 3))
        self._factory = connector_factory
        self._running: dict[int, _Running] = {}
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # -- what the API reads --------------------------------------------------------

    def states(self) -> dict[str, LiveState]:
        """The connectors this process runs now, by name."""
        return {
            running.record.name: LiveState(
                name=running.record.name,
                state=running.status,
                owner=self.owner_id,
                lease_until=running.lease_until,
                last_error=running.last_error,
                stats=_stats_of(running.connector),
            )
            for running in self._running.values()
        }

    def connector(self, name: str) -> Connector | None:
        """The live :class:`Connector` named ``name`` if this process runs it."""
        for running in self._running.values():
            if running.record.name == name:
                return running.connector
        return None

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Reconcile in the background until :meth:`close`."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"connector-manager:{self.owner_id}"
            )
        return self._task

    def wake(self) -> None:
        """Reconcile now rather than at the next tick (the API changed a connector)."""
        self._wake.set()

    async def run(self) -> None:
        """Reconcile every ``interval`` seconds until :meth:`close`."""
        while not self._closed:
            try:
                await self.reconcile()
            except Exception as error:  # a bug must not end the loop that renews the leases
                log.error("connectors.reconcile_failed", error=repr(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()

    async def close(self, *, release: bool = True) -> None:
        """Stop every connector; with ``release`` give up their leases at once, so another
        process takes them without waiting for them to run out (``release=False`` is what
        a killed process leaves behind)."""
        self._closed = True
        self._wake.set()
        if self._task is not None:
            # Not cancelled: a round cut short could leave a connector half stopped. The
            # loop ends after the round in progress.
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.interval + 10.0)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        async with self._lock:
            ids = list(self._running)
            await asyncio.gather(*(self._stop(connector_id) for connector_id in ids))
            if release:
                # Leaving, too: the others' share grows at their next round.
                await self._release(ids, leave=True)

    # -- one round -----------------------------------------------------------------

    async def reconcile(self) -> None:
        """One round (see the module docstring); errors are logged, never raised."""
        async with self._lock:
            if self._closed:
                return
            now = self.platform.now()
            try:
                records = await list_connectors(self.platform.db)
            except Exception as error:
                log.warning("connectors.read_failed", error=repr(error))
                await self._fence(now)
                return
            wanted = {r.id: r for r in records if r.enabled and r.bind != HTTP}
            # Ours in the table (or running here) but no longer wanted: give them up.
            held = {r.id for r in records if r.lease_owner == self.owner_id}
            unwanted = sorted((held | set(self._running)) - set(wanted))
            for connector_id, running in list(self._running.items()):
                record = wanted.get(connector_id)
                if record is None or record.updated_at != running.record.updated_at:
                    await self._stop(connector_id)
            until = now + self.lease
            claims = [self._claim_of(record, now) for record in wanted.values()]
            try:
                won, excess = await self.platform.db.run_write(
                    partial(
                        _claim,
                        owner=self.owner_id,
                        claims=claims,
                        release=unwanted,
                        now=now,
                        until=until,
                    )
                )
            except Exception as error:
                log.warning("connectors.claim_failed", error=repr(error))
                await self._fence(now)
                return
            for connector_id in [cid for cid in self._running if cid not in won]:
                # Taken by another process, disabled or changed since we read it, or
                # beyond our share.
                log.info(
                    "connectors.not_claimed" if connector_id not in excess else "connectors.shed",
                    connector=self._running[connector_id].record.name,
                )
                await self._stop(connector_id)
            if excess:
                await self._release(sorted(excess))
            for connector_id in won:
                self._run(wanted[connector_id], until)
            self._export_metrics()

    async def _release(self, ids: Sequence[int], *, leave: bool = False) -> None:
        """Give up the leases of ``ids`` (stopped already); with ``leave`` also this
        process's row in ``gateway_processes``. A failure is logged: leases run out."""
        try:
            await self.platform.db.run_write(
                partial(
                    _release,
                    owner=self.owner_id,
                    ids=ids,
                    now=self.platform.now(),
                    leave=leave,
                )
            )
        except Exception as error:
            log.warning("connectors.release_failed", error=repr(error))

    def _claim_of(self, record: ConnectorRecord, now: datetime) -> dict[str, Any]:
        running = self._running.get(record.id)
        return {
            "id": record.id,
            "updated_at": record.updated_at,
            "status": running.status if running else STARTING,
            "last_error": running.last_error if running else None,
            # As read: the compare-and-set decides, these only choose what to try.
            "held": record.lease_owner == self.owner_id,
            "free": record.lease_owner is None
            or record.lease_until is None
            or record.lease_until < now,
        }

    def _run(self, record: ConnectorRecord, until: datetime) -> None:
        running = self._running.get(record.id)
        if running is not None:
            running.lease_until = until
            return
        running = _Running(record, until)
        self._running[record.id] = running
        try:
            config = config_of(record)
        except InvalidConnector as error:
            running.error = str(error)
            log.error("connectors.invalid", connector=record.name, error=running.error)
            return
        running.connector = self._factory(config, self.sink)
        running.connector.start()
        log.info("connectors.started", connector=record.name, owner=self.owner_id)

    async def _stop(self, connector_id: int) -> None:
        running = self._running.pop(connector_id, None)
        if running is None:
            return
        CONNECTOR_STATE.labels(connector=running.record.name).set(0)
        if running.connector is not None:
            await running.connector.stop()
            log.info("connectors.stopped", connector=running.record.name, owner=self.owner_id)

    async def _fence(self, now: datetime) -> None:
        """Stop each connector whose lease we may not hold much longer."""
        for connector_id, running in list(self._running.items()):
            if now >= running.lease_until - self.margin:
                log.error("connectors.fenced", connector=running.record.name)
                await self._stop(connector_id)

    def _export_metrics(self) -> None:
        for running in self._running.values():
            bound = (
                running.connector is not None and running.connector.state is ConnectorState.BOUND
            )
            CONNECTOR_STATE.labels(connector=running.record.name).set(1 if bound else 0)


def _stats_of(connector: Connector | None) -> dict[str, Any]:
    if connector is None:
        return {}
    stats = connector.stats
    return {
        "messages": stats.messages,
        "receipts": stats.receipts,
        "acked": stats.acked,
        "nacked": stats.nacked,
        "throttled": stats.throttled,
        "binds": stats.binds,
        "reconnects": stats.reconnects,
    }


# --------------------------------------------------------------------------- leases


def fair_share(
    claims: Sequence[dict[str, Any]], live: int
) -> tuple[list[dict[str, Any]], list[int]]:
    """The claims to make, and the ids held beyond the share, for one of ``live`` processes.

    The share is the connectors over the live processes, rounded up. Held leases are
    renewed first (the lowest ids, up to the share), then free or expired ones taken
    until the share is full; those held by another live process are not tried.
    """
    share = math.ceil(len(claims) / max(live, 1))
    ordered = sorted(claims, key=lambda claim: int(claim["id"]))
    held = [claim for claim in ordered if claim["held"]]
    free = [claim for claim in ordered if not claim["held"] and claim["free"]]
    keep = held[:share]
    take = free[: max(share - len(keep), 0)]
    return keep + take, [int(claim["id"]) for claim in held[share:]]


def _claim(
    connection: Connection,
    owner: str,
    claims: Sequence[dict[str, Any]],
    release: Sequence[int],
    now: datetime,
    until: datetime,
) -> tuple[set[int], set[int]]:
    """Renew this process's liveness, claim or renew its share of ``claims`` (see
    :func:`fair_share`) and give up ``release``; the ids won, and those held beyond the
    share (to stop, then give up: not given up here, so nobody binds them meanwhile).

    A claim that fails on a row this process holds gives that lease up too: the row was
    disabled or changed between our read and this transaction, and the lease must not
    linger with a stale status. Rows go in id order, so that two processes locking the
    same rows lock them in the same order (PostgreSQL would otherwise have deadlocks to
    break).
    """
    chosen, excess = fair_share(claims, _live_processes(connection, owner, now, until))
    by_id: dict[int, dict[str, Any] | None] = {int(i): None for i in release}
    by_id.update({int(claim["id"]): claim for claim in chosen})
    won = set()
    for connector_id in sorted(by_id):
        claim = by_id[connector_id]
        if claim is not None and _claim_one(connection, owner, claim, now, until):
            won.add(connector_id)
        else:
            _release(connection, owner, [connector_id], now)
    return won, set(excess)


def _live_processes(connection: Connection, owner: str, now: datetime, until: datetime) -> int:
    """Mark ``owner`` alive until ``until``, forget processes dead since before ``now``,
    and count the live ones (this one included)."""
    connection.execute(delete(GatewayProcess).where(GatewayProcess.alive_until < now))
    renewed = connection.execute(
        update(GatewayProcess).where(GatewayProcess.owner_id == owner).values(alive_until=until)
    )
    if not renewed.rowcount:
        connection.execute(
            insert(GatewayProcess).values(owner_id=owner, started_at=now, alive_until=until)
        )
    return int(connection.execute(select(func.count()).select_from(GatewayProcess)).scalar_one())


def _claim_one(
    connection: Connection, owner: str, claim: dict[str, Any], now: datetime, until: datetime
) -> bool:
    result = connection.execute(
        update(ConnectorRow)
        .where(
            ConnectorRow.id == claim["id"],
            ConnectorRow.enabled.is_(True),
            ConnectorRow.bind != HTTP,
            # Settings changed since we read them: claim next round, with the new ones.
            ConnectorRow.updated_at == claim["updated_at"],
            or_(
                ConnectorRow.lease_owner.is_(None),
                ConnectorRow.lease_owner == owner,
                ConnectorRow.lease_until.is_(None),
                ConnectorRow.lease_until < now,
            ),
        )
        .values(
            lease_owner=owner,
            lease_until=until,
            status=claim["status"],
            status_at=now,
            last_error=claim["last_error"],
        )
    )
    return bool(result.rowcount)


def _release(
    connection: Connection,
    owner: str,
    ids: Sequence[int],
    now: datetime,
    *,
    leave: bool = False,
) -> None:
    if ids:
        connection.execute(
            update(ConnectorRow)
            .where(ConnectorRow.id.in_(list(ids)), ConnectorRow.lease_owner == owner)
            .values(lease_owner=None, lease_until=None, status="stopped", status_at=now)
        )
    if leave:
        connection.execute(delete(GatewayProcess).where(GatewayProcess.owner_id == owner))


__all__ = ["ConnectorFactory", "ConnectorManager", "LiveState", "fair_share"]
