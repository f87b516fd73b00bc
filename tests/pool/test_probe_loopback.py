"""A probe's round trip through the real simulator: submit_sm out, deliver_sm back.

The transmitter binds as a transmitter and submits; the simulator loops the message
back as a mobile-originated deliver_sm to the receiver bind, whose sink (a small one
here; the platform's is ingest's) recognises the probe and settles it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

from pool_support import add_numbers, number, number_row, us
from sqlalchemy import select

from smslocker.gateway import (
    BindType,
    Connector,
    ConnectorConfig,
    InboundEvent,
    InboundMessage,
)
from smslocker.pool.health import complete_probe, fail_overdue_probes, probe_token, send_probes
from smslocker.pool.transmitter import SmppTransmitter
from smslocker.settings import PolicySettings
from smslocker.simulator import Simulator, SimulatorConfig
from smslocker.store.models import Probe
from smslocker.store.types import utcnow

POLICY = PolicySettings(probe_deadline_s=30)


class ProbeSink:
    """Settles the probes it receives, each batch in one transaction, as ingest does;
    ``settled`` is set once ``expected`` probes have been."""

    def __init__(self, db: Any, expected: int) -> None:
        self.db = db
        self.seen: list[InboundMessage] = []
        self.expected = expected
        self.settled = asyncio.Event()
        self._count = 0

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        async with self.db.write() as connection:
            for event in batch:
                if isinstance(event, InboundMessage):
                    self.seen.append(event)
                    token = probe_token(event.text)
                    if token is not None:
                        self._count += await complete_probe(connection, token, event.received_at)
        if self._count >= self.expected:
            self.settled.set()


def bind(port: int, name: str, kind: BindType) -> ConnectorConfig:
    return ConnectorConfig(
        name=name, host="127.0.0.1", port=port, system_id=name, bind=kind, reconnect_initial=0.1
    )


async def outcomes(db: Any) -> list[str]:
    async with db.read() as connection:
        return list((await connection.execute(select(Probe.outcome).order_by(Probe.id))).scalars())


async def test_probes_come_back_through_the_simulator(database: Any) -> None:
    ids = await add_numbers(database, [number_row(us(i)) for i in range(5)])
    sink = ProbeSink(database, expected=5)
    async with Simulator(SimulatorConfig(port=0, enquire_link_interval=None)) as simulator:
        receiver = Connector(bind(simulator.port, "sim", BindType.RECEIVER), sink)
        receiver.start()
        try:
            await receiver.wait_bound(5)
            await simulator.wait_for_receiver(5)
            transmitter = SmppTransmitter(bind(simulator.port, "sim-tx", BindType.TRANSCEIVER))
            async with transmitter:
                assert transmitter.connector.config.bind is BindType.TRANSMITTER
                sent = await send_probes(database, transmitter, utcnow(), POLICY)
                assert (len(sent.sent), sent.unsent) == (5, 0)
                await asyncio.wait_for(sink.settled.wait(), 10)
        finally:
            await receiver.stop()
    assert sorted(message.destination for message in sink.seen) == [us(i)[1:] for i in range(5)]
    for number_id in ids:
        row = await number(database, number_id)
        assert (row.probes_ok, row.probe_failure_streak) == (1, 0)
        assert row.last_probe_ms is not None
        assert row.last_probe_ms < 10_000
    assert await outcomes(database) == ["ok"] * 5
    # Nothing is overdue: every probe has settled.
    assert (await fail_overdue_probes(database, utcnow(), POLICY)).failed == 0


async def test_a_destination_the_smsc_refuses_is_unsent(database: Any) -> None:
    await add_numbers(database, [number_row(us(1))])
    config = SimulatorConfig(port=0, enquire_link_interval=None, loopback_destinations="^$")
    async with Simulator(config) as simulator:
        transmitter = SmppTransmitter(bind(simulator.port, "sim-tx", BindType.TRANSMITTER))
        async with transmitter:
            result = await send_probes(database, transmitter, utcnow(), POLICY)
    assert (result.sent, result.unsent) == ((), 1)
    assert await outcomes(database) == ["unsent"]


async def test_a_round_probes_each_reachable_connector_and_skips_the_others(
    database: Any,
) -> None:
    from smslocker.pool.prober import probe_connectors

    await add_numbers(database, [number_row(us(i)) for i in range(3)])
    await add_numbers(database, [number_row(us(100), connector="down")])
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
    sink = ProbeSink(database, expected=3)
    async with Simulator(SimulatorConfig(port=0, enquire_link_interval=None)) as simulator:
        receiver = Connector(bind(simulator.port, "sim", BindType.RECEIVER), sink)
        receiver.start()
        try:
            await receiver.wait_bound(5)
            await simulator.wait_for_receiver(5)
            configs = [
                bind(simulator.port, "sim", BindType.RECEIVER),
                bind(dead_port, "down", BindType.RECEIVER).model_copy(
                    update={"connect_timeout": 0.5}
                ),
            ]
            rounds = await probe_connectors(
                database, configs, utcnow(), POLICY, limit=10, bind_timeout=1.0
            )
            await asyncio.wait_for(sink.settled.wait(), 10)
        finally:
            await receiver.stop()
    sim_round = rounds["sim"]
    assert sim_round is not None
    assert len(sim_round.sent) == 3
    assert rounds["down"] is None  # unreachable: skipped, no probe counted against it
    assert await outcomes(database) == ["ok"] * 3
