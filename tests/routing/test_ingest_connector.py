"""The whole inbound path in one process: simulator -> connector -> StoreSink -> database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

from routing_support import add_account, add_number, add_rental, stored, wait_until
from sqlalchemy import func, select

from smslocker.gateway import BindType, Connector, ConnectorConfig, InboundEvent
from smslocker.routing.ingest import StoreSink
from smslocker.settings import IngestSettings
from smslocker.simulator import Simulator, SimulatorConfig
from smslocker.store import Database
from smslocker.store.models import Message
from smslocker.store.types import utcnow

FAST_SMSC = SimulatorConfig(
    port=0, redelivery_delay=0.05, max_redelivery_delay=0.2, response_timeout=2.0, window=50
)


def connector_config(port: int) -> ConnectorConfig:
    return ConnectorConfig(
        name="sim",
        host="127.0.0.1",
        port=port,
        system_id="smslocker",
        bind=BindType.RECEIVER,
        window=50,
        connect_timeout=2.0,
        reconnect_initial=0.05,
        reconnect_max=0.2,
        enquire_link_interval=1.0,
        ghost_timeout=None,
    )


@contextlib.asynccontextmanager
async def pipeline(sink: object) -> AsyncIterator[Simulator]:
    simulator = Simulator(FAST_SMSC)
    await simulator.start()
    connector = Connector(connector_config(simulator.port), sink)  # type: ignore[arg-type]
    connector.start()
    try:
        await connector.wait_bound(timeout=5)
        yield simulator
    finally:
        await connector.stop(timeout=1)
        await simulator.stop(timeout=0.5)


async def count_messages(db: Database) -> int:
    async with db.read() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Message)) or 0)


async def wait_for_count(db: Database, expected: int, timeout: float = 20.0) -> None:
    async def enough() -> bool:
        return await count_messages(db) >= expected

    await wait_until(enough, timeout)


async def test_every_message_arrives_once_short_and_long(database: Database) -> None:
    now = utcnow()
    account = await add_account(database, "alice")
    number = await add_number(database, "+447700900100", "RESERVED")
    start, end = now - timedelta(minutes=1), now + timedelta(hours=1)
    rental = await add_rental(database, account, number, "+447700900100", start, end)
    sink = StoreSink(database, IngestSettings())
    texts = [f"Your code is {100000 + i}" for i in range(200)]
    long_text = "Long message " + "x" * 400 + " code 424242"
    async with pipeline(sink) as simulator:
        for i, text in enumerate(texts):
            simulator.inject_mo("447700900001", f"4477009{i % 5:05d}", text)
        for split in ("udh8", "sar", "payload"):
            simulator.inject_mo("Google", "447700900100", f"{split}: {long_text}", split=split)
        await wait_for_count(database, len(texts) + 3)
        await asyncio.sleep(0.2)  # nothing more may come
    rows = await stored(database)
    assert sorted(row.text for row in rows) == sorted(
        [*texts, *(f"{split}: {long_text}" for split in ("udh8", "sar", "payload"))]
    )
    long_rows = [row for row in rows if row.destination == "+447700900100"]
    assert {row.rental_id for row in long_rows} == {rental}
    assert sorted(row.parts for row in long_rows) == [1, 3, 3]  # payload: one PDU


class AckLosingSink:
    """Commits through StoreSink, then fails the first calls: the connector nacks what is
    already stored, as if the process died between commit and ack."""

    def __init__(self, inner: StoreSink, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        await self.inner.accept(batch)
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("the ack was lost")


async def test_a_redelivery_of_a_stored_message_is_not_stored_again(database: Database) -> None:
    inner = StoreSink(database, IngestSettings())
    sink = AckLosingSink(inner, failures=3)
    async with pipeline(sink) as simulator:
        for i in range(30):
            simulator.inject_mo("447700900001", "447700900100", f"hello {i}")
        await wait_for_count(database, 30)
        await wait_until(lambda: simulator.stats().acked >= 30)
    assert sorted(row.text for row in await stored(database)) == sorted(
        f"hello {i}" for i in range(30)
    )
    assert inner.stats.duplicates > 0


async def test_the_same_text_twice_without_timestamp_is_taken_for_a_redelivery(
    database: Database,
) -> None:
    # Documented in smslocker.routing.dedup: without an SMSC timestamp, an identical text
    # from one sender to one number within the window cannot be told from a redelivery.
    sink = StoreSink(database, IngestSettings())
    async with pipeline(sink) as simulator:
        simulator.inject_mo("447700900001", "447700900100", "Your code is 1234")
        simulator.inject_mo("447700900001", "447700900100", "Your code is 1234")
        simulator.inject_mo("447700900002", "447700900100", "Your code is 1234")
        await wait_until(lambda: simulator.stats().acked >= 3)
    assert [row.source for row in await stored(database)] == ["447700900001", "447700900002"]
