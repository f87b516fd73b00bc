"""The connector manager: stored connectors run by exactly one gateway process at a time.

Two managers stand for two gateway processes: each has its own :class:`Database` on the
same SQLite file or PostgreSQL schema, so their claims are real concurrent transactions.
A fake clock moves the leases; the connectors bind for real to a fake SMSC on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_smsc import FakeSmsc
from gateway_support import FAST_TIMERS, RecordingSink, wait_until
from sqlalchemy import select, text, update

from smslocker.delivery.bus import InProcessBus
from smslocker.gateway.manager import ConnectorManager, fair_share
from smslocker.gateway.registry import (
    create_connector,
    delete_connector,
    get_connector,
    set_enabled,
    update_connector,
)
from smslocker.metrics import CONNECTOR_STATE
from smslocker.platform import Platform
from smslocker.settings import Settings
from smslocker.store import Database
from smslocker.store.models import ConnectorRow, GatewayProcess

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LEASE_S = 15.0


@dataclass
class FakeClock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def second_database(database: Database) -> AsyncIterator[Database]:
    """Another connection pool on the same database: a second process's view of it."""
    if database.is_sqlite:
        other = Database(database.url)
    else:
        async with database.read() as connection:
            schema = await connection.scalar(text("SELECT current_schema()"))
        other = Database(database.url, schema=str(schema))
    try:
        yield other
    finally:
        await other.close()


def platform_on(database: Any, clock: FakeClock, tmp_path: Path) -> Platform:
    return Platform(
        settings=Settings(data_dir=tmp_path / "data"), db=database, bus=InProcessBus(), clock=clock
    )


@contextlib.asynccontextmanager
async def managed(
    database: Any, clock: FakeClock, tmp_path: Path, owner: str
) -> AsyncIterator[ConnectorManager]:
    manager = ConnectorManager(
        platform_on(database, clock, tmp_path), RecordingSink(), owner, lease_s=LEASE_S, interval=3
    )
    try:
        yield manager
    finally:
        await manager.close(release=False)


async def add_smpp(database: Database, port: int, name: str = "carrier", **extra: Any) -> None:
    options = {key: value for key, value in FAST_TIMERS.items() if value is not None}
    values = {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "system_id": "smslocker",
        "password": "secret",
        "bind": "receiver",
        "options": options,
        **extra,
    }
    await create_connector(database, values, T0)


def open_binds(smsc: FakeSmsc) -> int:
    return sum(1 for connection in smsc.connections if connection.bound and connection.open)


def bound(manager: ConnectorManager, name: str = "carrier") -> Callable[[], bool]:
    return lambda: name in manager.states() and manager.states()[name].state == "bound"


# --------------------------------------------------------------------------- tests


async def test_a_manager_binds_an_enabled_connector_and_reports_its_status(
    database: Database, smsc: FakeSmsc, clock: FakeClock, tmp_path: Path
) -> None:
    await add_smpp(database, smsc.port)
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        await manager.reconcile()
        await wait_until(bound(manager))
        await manager.reconcile()  # writes the status it now has
        record = await get_connector(database, "carrier")
        assert record.lease_owner == "gw-a"
        assert record.lease_until == T0 + timedelta(seconds=LEASE_S)
        assert (record.status, record.status_at) == ("bound", T0)
        assert CONNECTOR_STATE.labels(connector="carrier")._value.get() == 1
        assert smsc.binds[-1].system_id == "smslocker"
        assert open_binds(smsc) == 1
    assert CONNECTOR_STATE.labels(connector="carrier")._value.get() == 0


async def test_two_managers_racing_never_both_run_a_connector(
    database: Database,
    second_database: Database,
    smsc: FakeSmsc,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    for index in range(4):
        await add_smpp(database, smsc.port, name=f"carrier-{index}")
    async with (
        managed(database, clock, tmp_path, "gw-a") as first,
        managed(second_database, clock, tmp_path, "gw-b") as second,
    ):
        for _ in range(6):
            await asyncio.gather(first.reconcile(), second.reconcile(), first.reconcile())
            assert not set(first.states()) & set(second.states())
            clock.advance(4)  # within the lease: renewals, never a takeover
        # Once the shares settled, every connector runs, two in each process.
        assert set(first.states()) | set(second.states()) == {
            f"carrier-{index}" for index in range(4)
        }
        assert len(first.states()) == len(second.states()) == 2
        await wait_until(lambda: open_binds(smsc) == 4)
        for record in [await get_connector(database, f"carrier-{i}") for i in range(4)]:
            holder = first if record.name in first.states() else second
            assert record.lease_owner == holder.owner_id


def claim(connector_id: int, *, held: bool = False, free: bool = True) -> dict[str, Any]:
    return {"id": connector_id, "held": held, "free": free and not held}


def test_the_fair_share_renews_held_leases_first_then_takes_free_ones() -> None:
    claims = [claim(5), claim(1, held=True), claim(3, free=False), claim(2), claim(4)]
    chosen, excess = fair_share(claims, live=2)  # five connectors, two processes: three each
    assert [c["id"] for c in chosen] == [1, 2, 4]  # held 1, then the free ones by id
    assert excess == []
    chosen, excess = fair_share(claims, live=1)  # alone: everything it can get
    assert [c["id"] for c in chosen] == [1, 2, 4, 5]  # not 3: another process holds it


def test_leases_held_beyond_the_share_are_handed_back_highest_ids_first() -> None:
    claims = [claim(i, held=True) for i in (4, 2, 3, 1)] + [claim(5)]
    chosen, excess = fair_share(claims, live=3)  # five over three: two each
    assert [c["id"] for c in chosen] == [1, 2]
    assert excess == [3, 4]
    assert fair_share([], live=3) == ([], [])


async def live_owners(database: Database) -> set[str]:
    async with database.read() as connection:
        rows = await connection.execute(select(GatewayProcess.owner_id))
        return {owner for (owner,) in rows}


async def test_a_gateway_that_joins_takes_its_share_and_one_that_leaves_hands_it_back(
    database: Database,
    second_database: Database,
    smsc: FakeSmsc,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    for index in range(4):
        await add_smpp(database, smsc.port, name=f"carrier-{index}")
    names = {f"carrier-{index}" for index in range(4)}
    async with managed(database, clock, tmp_path, "gw-a") as first:
        await first.reconcile()
        assert set(first.states()) == names  # alone: it runs them all
        await wait_until(lambda: open_binds(smsc) == 4)
        async with managed(second_database, clock, tmp_path, "gw-b") as second:
            await second.reconcile()
            assert second.states() == {}  # all leased to gw-a: nothing taken from it
            assert await live_owners(database) == {"gw-a", "gw-b"}
            await first.reconcile()  # its share is two now: it unbinds two, then frees them
            assert set(first.states()) == {"carrier-0", "carrier-1"}
            for name in ("carrier-2", "carrier-3"):
                record = await get_connector(database, name)
                assert (record.lease_owner, record.status) == (None, "stopped")
            await wait_until(lambda: open_binds(smsc) == 2)
            await second.reconcile()
            assert set(second.states()) == {"carrier-2", "carrier-3"}
            await wait_until(lambda: open_binds(smsc) == 4)
            await second.close()  # leaves: its leases and its row go at once
            assert await live_owners(database) == {"gw-a"}
        await first.reconcile()
        assert set(first.states()) == names
        await wait_until(lambda: open_binds(smsc) == 4)


async def test_a_dead_gateways_share_is_taken_over_when_its_leases_run_out(
    database: Database,
    second_database: Database,
    smsc: FakeSmsc,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    for index in range(2):
        await add_smpp(database, smsc.port, name=f"carrier-{index}")
    async with managed(database, clock, tmp_path, "gw-a") as first:
        async with managed(second_database, clock, tmp_path, "gw-b") as second:
            await second.reconcile()
            await first.reconcile()
            await second.reconcile()  # share one each once both are known
            await first.reconcile()
            assert len(first.states()) == len(second.states()) == 1
        # gw-b killed (close without release): its row and lease stay until they run out.
        assert await live_owners(database) == {"gw-a", "gw-b"}
        clock.advance(LEASE_S - 1)
        await first.reconcile()
        assert len(first.states()) == 1
        clock.advance(2)
        await first.reconcile()
        assert set(first.states()) == {"carrier-0", "carrier-1"}
        assert await live_owners(database) == {"gw-a"}
        await wait_until(lambda: open_binds(smsc) == 2)


async def test_a_dead_owners_lease_passes_over_only_when_it_runs_out(
    database: Database,
    second_database: Database,
    smsc: FakeSmsc,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    await add_smpp(database, smsc.port)
    async with managed(database, clock, tmp_path, "gw-a") as first:
        await first.reconcile()
        await wait_until(bound(first))
        await first.close(release=False)  # killed: the lease stays in the table
    await wait_until(lambda: open_binds(smsc) == 0)
    async with managed(second_database, clock, tmp_path, "gw-b") as second:
        clock.advance(LEASE_S - 1)
        await second.reconcile()
        assert second.states() == {}
        clock.advance(2)
        await second.reconcile()
        await wait_until(bound(second))
        assert (await get_connector(database, "carrier")).lease_owner == "gw-b"


async def test_a_closed_manager_hands_over_at_once(
    database: Database,
    second_database: Database,
    smsc: FakeSmsc,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    await add_smpp(database, smsc.port)
    async with managed(database, clock, tmp_path, "gw-a") as first:
        await first.reconcile()
        await wait_until(bound(first))
        await first.close()
        record = await get_connector(database, "carrier")
        assert (record.lease_owner, record.status) == (None, "stopped")
    async with managed(second_database, clock, tmp_path, "gw-b") as second:
        await second.reconcile()
        await wait_until(bound(second))


async def test_an_owner_that_was_paused_past_its_lease_gives_the_connector_up(
    database: Database,
    second_database: Database,
    smsc: FakeSmsc,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    await add_smpp(database, smsc.port)
    async with (
        managed(database, clock, tmp_path, "gw-a") as first,
        managed(second_database, clock, tmp_path, "gw-b") as second,
    ):
        await first.reconcile()
        await wait_until(bound(first))
        clock.advance(LEASE_S + 1)  # first did not renew in time
        await second.reconcile()
        await first.reconcile()  # its compare-and-set fails: it stops
        assert first.states() == {}
        assert set(second.states()) == {"carrier"}
        await wait_until(lambda: open_binds(smsc) == 1 and bound(second)())


class UnreachableDatabase:
    """A database that went away: every read and write fails."""

    def __init__(self, database: Database) -> None:
        self.url = database.url
        self.is_sqlite = database.is_sqlite

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Any]:
        raise ConnectionRefusedError("database unreachable")
        yield

    async def run_write(self, _transaction: object) -> Any:
        raise ConnectionRefusedError("database unreachable")


async def test_a_manager_cut_off_from_the_database_unbinds_before_its_lease_ends(
    database: Database, smsc: FakeSmsc, clock: FakeClock, tmp_path: Path
) -> None:
    await add_smpp(database, smsc.port)
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        await manager.reconcile()
        await wait_until(bound(manager))
        manager.platform.db = UnreachableDatabase(database)  # type: ignore[assignment]
        clock.advance(LEASE_S - 3 - 1)  # not yet within the margin: keeps running
        await manager.reconcile()
        assert bound(manager)()
        clock.advance(1)  # lease_until - margin: stop before anyone may take over
        await manager.reconcile()
        assert manager.states() == {}
        await wait_until(lambda: open_binds(smsc) == 0)


async def test_disabling_stops_and_releases_enabling_starts_again(
    database: Database, smsc: FakeSmsc, clock: FakeClock, tmp_path: Path
) -> None:
    await add_smpp(database, smsc.port)
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        await manager.reconcile()
        await wait_until(bound(manager))
        await set_enabled(database, "carrier", False, T0)
        await manager.reconcile()
        assert manager.states() == {}
        record = await get_connector(database, "carrier")
        assert (record.lease_owner, record.status) == (None, "stopped")
        await wait_until(lambda: open_binds(smsc) == 0)
        await set_enabled(database, "carrier", True, T0)
        await manager.reconcile()
        await wait_until(bound(manager))


class Interleaved:
    """The real database, with one change made by "someone else" between a manager's read
    and its claim."""

    def __init__(self, database: Database, change: Callable[[], Any]) -> None:
        self.database = database
        self.change: Callable[[], Any] | None = change
        self.url = database.url
        self.is_sqlite = database.is_sqlite

    def read(self) -> Any:
        return self.database.read()

    async def run_write(self, transaction: Any) -> Any:
        if self.change is not None:
            change, self.change = self.change, None
            await change()
        return await self.database.run_write(transaction)


async def test_a_connector_disabled_between_read_and_claim_is_given_up(
    database: Database, smsc: FakeSmsc, clock: FakeClock, tmp_path: Path
) -> None:
    await add_smpp(database, smsc.port)
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        await manager.reconcile()
        await wait_until(bound(manager))
        manager.platform.db = Interleaved(  # type: ignore[assignment]
            database, lambda: set_enabled(database, "carrier", False, T0)
        )
        await manager.reconcile()
        assert manager.states() == {}
        record = await get_connector(database, "carrier")
        assert (record.enabled, record.lease_owner, record.status) == (False, None, "stopped")
        await wait_until(lambda: open_binds(smsc) == 0)


async def test_changed_settings_bind_again_and_a_removed_connector_unbinds(
    database: Database, smsc: FakeSmsc, clock: FakeClock, tmp_path: Path
) -> None:
    await add_smpp(database, smsc.port)
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        await manager.reconcile()
        await wait_until(bound(manager))
        await update_connector(database, "carrier", {"system_id": "renamed"}, T0 + timedelta(1))
        await manager.reconcile()
        await wait_until(bound(manager))
        assert smsc.binds[-1].system_id == "renamed"
        await wait_until(lambda: open_binds(smsc) == 1)
        await delete_connector(database, "carrier")
        await manager.reconcile()
        assert manager.states() == {}
        await wait_until(lambda: open_binds(smsc) == 0)


async def test_stored_settings_that_make_no_bind_are_reported_not_run(
    database: Database, smsc: FakeSmsc, clock: FakeClock, tmp_path: Path
) -> None:
    await add_smpp(database, smsc.port)
    async with database.write() as connection:  # edited behind the API's back
        await connection.execute(update(ConnectorRow).values(password="far-too-long"))
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        await manager.reconcile()
        assert manager.states()["carrier"].state == "error"
        await manager.reconcile()
        record = await get_connector(database, "carrier")
        assert record.status == "error"
        assert "password" in (record.last_error or "")
        assert smsc.connections == []


async def test_http_ingress_connectors_are_not_run(
    database: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await create_connector(database, {"name": "twilio", "bind": "http"}, T0)
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        await manager.reconcile()
        assert manager.states() == {}
        assert (await get_connector(database, "twilio")).lease_owner is None


async def test_the_background_loop_follows_the_table(
    database: Database, smsc: FakeSmsc, clock: FakeClock, tmp_path: Path
) -> None:
    async with managed(database, clock, tmp_path, "gw-a") as manager:
        manager.start()
        await add_smpp(database, smsc.port)
        manager.wake()
        await wait_until(bound(manager))
        await set_enabled(database, "carrier", False, T0)
        manager.wake()
        await wait_until(lambda: manager.states() == {})


def test_the_interval_must_be_shorter_than_the_lease(tmp_path: Path) -> None:
    platform = platform_on(None, FakeClock(), tmp_path)
    with pytest.raises(ValueError, match="shorter"):
        ConnectorManager(platform, RecordingSink(), "gw", lease_s=3, interval=3)
