"""The load generator: every message sent, every answer counted, the window respected."""

from __future__ import annotations

import asyncio
import json

import pytest
from esme_client import Connect

from smslocker.simulator import NoReceiver, Simulator
from smslocker.simulator.loadgen import DEFAULT_TEXT, destination_numbers
from smslocker.smpp.constants import CommandStatus as S


@pytest.mark.parametrize("window", [1, 100])
async def test_every_message_is_sent_and_acked(
    simulator: Simulator, connect: Connect, window: int
) -> None:
    client = await connect("receiver")
    report = await simulator.run_load(2000, numbers=10, window=window)
    assert (report.count, report.sent, report.acked, report.nacked, report.lost) == (
        2000,
        2000,
        2000,
        0,
        0,
    )
    assert (report.window, report.numbers, report.sessions) == (window, 10, 1)
    assert report.elapsed_s > 0
    assert report.rate > 0
    assert report.cpu_s > 0
    assert len(client.received) == 2000
    assert {pdu.destination_addr for pdu in client.received} == set(destination_numbers(10))
    assert {pdu.short_message for pdu in client.received} == {DEFAULT_TEXT.encode()}
    assert len({pdu.sequence_number for pdu in client.received}) == 2000
    # The load is not MO traffic: it leaves the message store and its counters alone.
    assert simulator.stats().deliver_sm_sent == 0


async def test_negative_acks_are_counted(simulator: Simulator, connect: Connect) -> None:
    await connect("receiver", ack=S.ESME_RX_T_APPN)
    report = await simulator.run_load(300, window=50)
    assert (report.sent, report.acked, report.nacked) == (300, 0, 300)


async def test_the_window_is_respected(simulator: Simulator, connect: Connect) -> None:
    client = await connect("receiver", ack=None)
    load = asyncio.create_task(simulator.run_load(12, window=5))
    first = await client.deliveries(5)
    await client.sync()  # the session still answers enquire_link during a load
    assert client.pending_deliveries() == 0  # five outstanding: nothing more came
    for pdu in first[:2]:
        client.respond(pdu)
    refill = await client.deliveries(2)
    await client.sync()
    assert client.pending_deliveries() == 0
    client.ack = 0
    for pdu in first[2:] + refill:
        client.respond(pdu)
    await client.deliveries(5)
    report = await load
    assert (report.sent, report.acked) == (12, 12)


async def test_the_load_is_spread_over_every_receiver(
    simulator: Simulator, connect: Connect
) -> None:
    clients = [await connect("receiver"), await connect("transceiver")]
    transmitter = await connect("transmitter")
    report = await simulator.run_load(1000, window=10)
    assert (report.acked, report.sessions) == (1000, 2)
    assert all(client.received for client in clients)
    assert sum(len(client.received) for client in clients) == 1000
    assert transmitter.received == []


async def test_the_rate_is_capped(simulator: Simulator, connect: Connect) -> None:
    await connect("receiver")
    report = await simulator.run_load(50, rate=500.0)
    assert report.acked == 50
    assert report.elapsed_s >= 49 / 500


async def test_a_lost_connection_ends_the_run(simulator: Simulator, connect: Connect) -> None:
    client = await connect("receiver", ack=None)
    load = asyncio.create_task(simulator.run_load(100, window=10))
    await client.deliveries(10)
    client.abort()
    report = await asyncio.wait_for(load, 2.0)
    assert (report.sent, report.acked, report.lost) == (10, 0, 10)


async def test_a_load_needs_a_receiver(simulator: Simulator, connect: Connect) -> None:
    await connect("transmitter")
    with pytest.raises(NoReceiver):
        await simulator.run_load(10)


async def test_the_report_is_one_json_line(simulator: Simulator, connect: Connect) -> None:
    await connect("receiver")
    report = await simulator.run_load(10)
    line = report.to_json()
    assert "\n" not in line
    assert json.loads(line)["acked"] == 10


async def test_waiting_for_receivers_counts_receiving_binds(
    simulator: Simulator, connect: Connect
) -> None:
    waiting = asyncio.create_task(simulator.wait_for_receiver(5, count=2))
    await connect("receiver")
    await connect("transmitter")  # takes no deliver_sm: not counted
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await connect("transceiver")
    await waiting  # the second receiving bind ends the wait
    with pytest.raises(TimeoutError):
        await simulator.wait_for_receiver(0.1, count=3)
