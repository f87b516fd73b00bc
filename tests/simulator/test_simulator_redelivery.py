"""A deliver_sm not acked with status 0 comes again, like from a real SMSC (SMPP.md §5.1)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from esme_client import Connect, MakeSimulator

from smslocker.simulator import MessageStatus, Simulator
from smslocker.simulator.delivery import RetryPolicy
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.pdu import DeliverSm


def answers(*statuses: int | None) -> Callable[[DeliverSm], int | None]:
    """An ``ack`` that answers the first deliver_sm with statuses[0], the next with [1], ..."""
    remaining = list(statuses)

    def ack(_pdu: DeliverSm) -> int | None:
        return remaining.pop(0) if remaining else S.ESME_ROK

    return ack


def status_of(simulator: Simulator, message_id: str) -> MessageStatus:
    status = simulator.message(message_id)
    assert status is not None
    return status


async def test_an_unanswered_deliver_sm_is_sent_again(
    simulator: Simulator, connect: Connect
) -> None:
    client = await connect("receiver", ack=answers(None))
    message_id = simulator.inject_mo("1", "447700900002", "no answer the first time")
    first, second = await client.deliveries(2, timeout=3.0)
    assert first.short_message == second.short_message
    assert second.sequence_number != first.sequence_number
    await client.sync()
    status = status_of(simulator, message_id)
    assert (status.state, status.attempts) == ("delivered", 2)
    assert simulator.stats().timeouts == 1


@pytest.mark.parametrize("status", [S.ESME_RX_T_APPN, S.ESME_RTHROTTLED, S.ESME_RSYSERR])
async def test_a_negative_ack_is_redelivered(
    simulator: Simulator, connect: Connect, status: int
) -> None:
    client = await connect("receiver", ack=answers(status, status))
    message_id = simulator.inject_mo("1", "447700900002", "try again later")
    pdus = await client.deliveries(3, timeout=3.0)
    assert len({pdu.short_message for pdu in pdus}) == 1
    await client.sync()
    result = status_of(simulator, message_id)
    assert (result.state, result.attempts) == ("delivered", 3)
    assert result.parts[0].last_status == "ESME_ROK"
    assert simulator.stats().nacked == 2


@pytest.mark.parametrize("status", [S.ESME_RX_P_APPN, S.ESME_RX_R_APPN])
async def test_a_permanent_failure_is_not_retried(
    simulator: Simulator, connect: Connect, status: int
) -> None:
    client = await connect("receiver", ack=status)
    message_id = simulator.inject_mo("1", "447700900002", "never")
    await client.next_deliver()
    await client.sync()
    result = status_of(simulator, message_id)
    assert (result.state, result.attempts) == ("failed", 1)
    assert result.parts[0].last_error == S(status).name
    # Nothing waits for another try: no retry timer, no queue entry.
    assert simulator.stats().queued == 0
    assert simulator.stats().failed == 1


async def test_a_connection_lost_before_the_ack_means_redelivery_elsewhere(
    simulator: Simulator, connect: Connect
) -> None:
    first = await connect("receiver", ack=None)
    message_id = simulator.inject_mo("1", "447700900002", "lost with the link")
    lost = await first.next_deliver()
    first.abort()
    await first.wait_closed()
    second = await connect("receiver")
    again = await second.next_deliver()
    assert again.short_message == lost.short_message
    await second.sync()
    result = status_of(simulator, message_id)
    assert (result.state, result.attempts) == ("delivered", 2)
    assert simulator.stats().lost == 1


async def test_every_part_of_a_long_message_is_retried_on_its_own(
    simulator: Simulator, connect: Connect
) -> None:
    # Part 2 is nacked once; parts 1 and 3 go through the first time.
    client = await connect("receiver", ack=answers(0, S.ESME_RX_T_APPN))
    message_id = simulator.inject_mo("1", "447700900002", "x" * 400)
    await client.deliveries(4, timeout=3.0)
    await client.sync()
    result = status_of(simulator, message_id)
    assert result.state == "delivered"
    assert [part.attempts for part in result.parts] == [1, 2, 1]


async def test_max_attempts_gives_up(make_simulator: MakeSimulator, connect: Connect) -> None:
    simulator = await make_simulator(max_attempts=2)
    client = await connect("receiver", ack=S.ESME_RX_T_APPN, port=simulator.port)
    message_id = simulator.inject_mo("1", "447700900002", "gives up")
    await client.deliveries(2, timeout=3.0)
    await client.sync()
    assert status_of(simulator, message_id).state == "failed"


async def test_the_session_window_is_respected(
    make_simulator: MakeSimulator, connect: Connect
) -> None:
    simulator = await make_simulator(window=2, response_timeout=30.0)
    client = await connect("receiver", ack=None, port=simulator.port)
    for number in range(4):
        simulator.inject_mo("1", "447700900002", f"message {number}")
    first = await client.deliveries(2)
    await client.sync()
    assert client.pending_deliveries() == 0  # two outstanding: the SMSC waits
    client.respond(first[0])
    assert (await client.next_deliver()).short_message == b"message 2"
    await client.sync()
    assert client.pending_deliveries() == 0


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(redelivery_delay=1.0, max_redelivery_delay=5.0)
    assert [policy.delay(failures) for failures in range(6)] == [1.0, 1.0, 2.0, 4.0, 5.0, 5.0]
