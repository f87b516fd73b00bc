"""Each misbehaviour mode, as the ESME on the other end sees it (STYLE.md habit 8)."""

from __future__ import annotations

import asyncio

import pytest
from esme_client import Connect, EsmeClient, MakeSimulator

from smslocker.simulator import InvalidRequest, Mode, ModeSettings, Simulator
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.pdu import EnquireLink, SubmitSm


async def test_never_answer_reads_everything_and_says_nothing(
    make_simulator: MakeSimulator,
) -> None:
    simulator = await make_simulator(mode=ModeSettings(Mode.NEVER_ANSWER))
    client = await EsmeClient.connect(simulator.port)
    try:
        with pytest.raises(TimeoutError):
            await client.bind("transceiver", timeout=0.3)
        with pytest.raises(TimeoutError):
            await client.request(EnquireLink(), timeout=0.2)
        assert client.raw == b""
        assert not client.closed.done()
        # Back to normal at runtime: a new ESME binds at once.
        simulator.set_mode("normal")
        healthy = await EsmeClient.connect(simulator.port)
        assert (await healthy.bind("transceiver")).ok
        healthy.abort()
    finally:
        client.abort()


async def test_garbage_breaks_the_esme_framing(simulator: Simulator, connect: Connect) -> None:
    simulator.set_mode(Mode.GARBAGE)
    client = await connect(None)
    with pytest.raises(ConnectionError):
        await client.bind("transceiver")
    assert client.broken
    assert int.from_bytes(client.raw[:4], "big") < 16  # no command_length can be that short


async def test_garbage_keeps_messages_for_a_healthy_link(
    simulator: Simulator, connect: Connect
) -> None:
    client = await connect("receiver")
    simulator.set_mode(Mode.GARBAGE)
    simulator.inject_mo("1", "447700900002", "held back")
    await asyncio.sleep(0)  # the dispatcher's turn: it must not pick the garbling link
    assert client.received == []
    simulator.set_mode(Mode.NORMAL)
    assert (await client.next_deliver()).short_message == b"held back"


async def test_unbind_at_once(simulator: Simulator, connect: Connect) -> None:
    client = await connect("transceiver")
    simulator.set_mode(Mode.UNBIND, count=0)
    unbind = await asyncio.wait_for(client.unbound, 2.0)
    assert unbind.by_peer
    await client.wait_closed()


async def test_unbind_after_n_deliver_sm(simulator: Simulator, connect: Connect) -> None:
    simulator.set_mode(Mode.UNBIND, count=2)
    client = await connect("receiver")
    ids = [simulator.inject_mo("1", "447700900002", f"message {n}") for n in range(3)]
    await client.deliveries(2)
    await asyncio.wait_for(client.unbound, 2.0)
    await client.wait_closed()
    simulator.set_mode(Mode.NORMAL)
    successor = await connect("receiver")
    assert (await successor.next_deliver()).short_message == b"message 2"
    await successor.sync()
    states = [status.state for status in map(simulator.message, ids) if status]
    assert states == ["delivered"] * 3


async def test_throttle_answers_submits_with_rthrottled(
    simulator: Simulator, connect: Connect
) -> None:
    simulator.set_mode(Mode.THROTTLE)
    client = await connect("transmitter")
    response = await client.request(SubmitSm(source_addr="1", destination_addr="2"))
    assert response.pdu.command_status == S.ESME_RTHROTTLED
    assert (await client.request(EnquireLink())).ok  # only submits are throttled


async def test_slow_acks_delay_every_answer(simulator: Simulator, connect: Connect) -> None:
    simulator.set_mode(Mode.SLOW_ACKS, delay=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    client = await connect("receiver")  # the bind_resp is late too
    assert loop.time() - started >= 0.3
    started = loop.time()
    assert (await client.request(EnquireLink())).ok
    assert loop.time() - started >= 0.3
    # deliver_sm are requests, not answers: they follow the late bind_resp without delay.
    simulator.inject_mo("1", "447700900002", "on time")
    await client.next_deliver(timeout=0.25)


async def test_drop_after_n_deliver_sm_cuts_the_link_without_unbind(
    simulator: Simulator, connect: Connect
) -> None:
    simulator.set_mode(Mode.DROP_AFTER, count=1)
    client = await connect("receiver")
    first = simulator.inject_mo("1", "447700900002", "first")
    simulator.inject_mo("1", "447700900002", "second")
    await client.next_deliver()
    await client.wait_closed()
    assert not client.unbound.done()
    simulator.set_mode(Mode.NORMAL)
    successor = await connect("receiver")
    texts = {pdu.short_message for pdu in await successor.deliveries(2)}
    assert texts == {b"first", b"second"}  # the first again: its ack never arrived
    await successor.sync()
    status = simulator.message(first)
    assert status is not None
    assert (status.state, status.attempts) == ("delivered", 2)


async def test_unknown_modes_are_refused(simulator: Simulator) -> None:
    with pytest.raises(InvalidRequest):
        simulator.set_mode("sulk")
    assert simulator.mode.mode is Mode.NORMAL
