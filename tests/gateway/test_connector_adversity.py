"""The connector on a bad link (STYLE.md habit 8): cut, torn, blackholed, garbled.

What these tests prove:

- a blackholed link (sockets open, nothing forwarded) is found stale by the unanswered
  enquire_link and left, and the connector binds again;
- a torn PDU (the proxy forwards half of it and cuts) costs nothing: the SMSC redelivers
  and the message is stored;
- garbage that breaks the framing gets generic_nack(ESME_RINVCMDLEN) and a new bind;
- a part of a long message held when the link dies, and redelivered on the next
  connection, is held again — not acked as if its message were stored;
- parts redelivered on a new connection while the sink call for their message still runs
  on the old one are not acked before that call succeeded; if it fails, the message is
  made again from the redelivery;
- no loss (DESIGN.md, guarantee 1): ~500 messages, some of them long, through a proxy that
  cuts the link at random moments five times and tears one PDU, with a sink that fails
  now and then — every message reaches the sink whole at least once, and every part the
  SMSC saw acked belongs to a message the sink stored. Duplicates are allowed and
  counted. Run against the fake SMSC's store-and-forward and against the real simulator.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence

import pytest
from adversity_proxy import TO_CLIENT, AdversityProxy
from fake_smsc import FakeSmsc
from gateway_support import (
    HANDSET,
    NUMBER,
    RecordingSink,
    make_config,
    mo,
    running,
    udh_parts,
    wait_until,
)

from smslocker.gateway import Connector, ConnectorState, InboundEvent, InboundMessage
from smslocker.simulator import MessageStatus, Simulator, SimulatorConfig
from smslocker.smpp.constants import CommandId as C
from smslocker.smpp.constants import CommandStatus as S

pytestmark = pytest.mark.timeout(30)


async def test_blackholed_link_is_found_stale_and_rebound(
    smsc: FakeSmsc, proxy: AdversityProxy
) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(proxy.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        loop = asyncio.get_running_loop()
        proxy.blackhole()
        blackholed_at = loop.time()
        await wait_until(lambda: smsc.bound_count >= 2, timeout=3)
        # enquire_link after 0.2 s idle, no answer within 0.3 s, timers tick every 0.25 s.
        assert loop.time() - blackholed_at < 1.5
        assert "EnquireLink" in (connector.stats.last_error or "")
        assert proxy.connections[0].closed
        sent = smsc.deliver(mo("after the rebind"))
        await wait_until(lambda: smsc.answers_to(sent, 1))
    assert [message.text for message in sink.messages] == ["after the rebind"]


async def test_torn_pdu_is_redelivered_and_stored(smsc: FakeSmsc, proxy: AdversityProxy) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(proxy.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        proxy.truncate_next(TO_CLIENT, keep=25)  # the header and a few octets of the body
        smsc.queue([("torn", mo("torn in half"))])
        await wait_until(lambda: smsc.acked["torn"] == 1, timeout=3)
    assert smsc.deliveries["torn"] == 2  # sent, torn, sent again on the next connection
    assert len(smsc.connections) == 2
    assert [message.text for message in sink.messages] == ["torn in half"]


async def test_garbage_breaks_framing_gets_generic_nack_and_a_new_bind(smsc: FakeSmsc) -> None:
    connector = Connector(make_config(smsc.port), RecordingSink())
    async with running(connector):
        await connector.wait_bound(2)
        smsc.send_raw(b"\x00\x00\x00\x05\xde\xad\xbe\xef" * 4)  # command_length 5
        await wait_until(lambda: smsc.bound_count >= 2, timeout=3)
    nacks = smsc.of_type(C.GENERIC_NACK, connection=0)
    assert [nack.status for nack in nacks] == [S.ESME_RINVCMDLEN]
    assert smsc.connections[0].closed_at is not None


async def test_part_held_when_the_link_dies_is_held_again_after_the_rebind(
    smsc: FakeSmsc, proxy: AdversityProxy
) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(proxy.port), sink)
    first, second = udh_parts(["held across ", "a reconnect"], 0x31)
    async with running(connector):
        await connector.wait_bound(2)
        held = smsc.deliver(first)
        await smsc.ping()
        assert smsc.answers_to(held, 0) == []
        proxy.cut()
        await wait_until(lambda: smsc.has_bound_connection() and smsc.current.number == 1)
        sink.gate.clear()
        again = smsc.deliver(first)  # the SMSC redelivers what was never answered
        await smsc.ping()
        assert smsc.answers_to(again, 1) == [], "acked a part whose message is not stored"
        rest = smsc.deliver(second)
        await wait_until(lambda: sink.entered == 1)
        sink.gate.set()
        await wait_until(lambda: len(smsc.answers_to(again + rest, 1)) == 2)
    acks = smsc.answers_to(again + rest, 1)
    assert {ack.status for ack in acks} == {0}
    assert min(ack.at for ack in acks) >= sink.last_return
    assert [message.text for message in sink.messages] == ["held across a reconnect"]


async def test_parts_redelivered_during_the_old_links_sink_call_wait_for_its_outcome(
    smsc: FakeSmsc, proxy: AdversityProxy
) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    sink.failures = [RuntimeError("commit failed")]
    connector = Connector(make_config(proxy.port, part_ack_hold=0.3), sink)
    parts = udh_parts(["stored only ", "if the sink says so"], 0x44)
    async with running(connector):
        await connector.wait_bound(2)
        smsc.deliver(*parts)
        await wait_until(lambda: sink.entered == 1)
        proxy.cut()  # the sink call is still running
        await wait_until(lambda: smsc.has_bound_connection() and smsc.current.number == 1)
        redelivered = smsc.deliver(*parts)
        await smsc.ping()
        assert smsc.answers_to(redelivered, 1) == [], "acked while the sink could still fail"
        sink.gate.set()  # ... and it fails
        await wait_until(lambda: sink.calls and sink.calls[0].failed)
        # Whatever the redelivered parts were answered (held past part_ack_hold: 0x64),
        # the SMSC delivers again until the message is stored.
        await wait_until(lambda: len(smsc.answers_to(redelivered, 1)) == 2, timeout=2)
        assert {a.status for a in smsc.answers_to(redelivered, 1)} == {S.ESME_RX_T_APPN}
        third = smsc.deliver(*parts)
        await wait_until(lambda: len(smsc.answers_to(third, 1)) == 2, timeout=2)
    assert {a.status for a in smsc.answers_to(third, 1)} == {0}
    assert [message.text for message in sink.messages] == ["stored only if the sink says so"]


# --------------------------------------------------------------------------- no loss


class ChaosSink:
    """A sink that takes a little time and fails now and then (seeded)."""

    def __init__(self, rng: random.Random, failure_rate: float = 0.1) -> None:
        self.rng = rng
        self.failure_rate = failure_rate
        self.stored: list[InboundMessage] = []
        self.stored_at: dict[str, float] = {}  # text -> loop time it was first stored whole
        self.failures = 0

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        await asyncio.sleep(self.rng.uniform(0, 0.003))
        if self.rng.random() < self.failure_rate:
            self.failures += 1
            raise RuntimeError("transient storage failure")
        now = asyncio.get_running_loop().time()
        for event in batch:
            if isinstance(event, InboundMessage):
                self.stored.append(event)
                if event.complete:
                    self.stored_at.setdefault(event.text, now)


def _workload(rng: random.Random, count: int) -> list[tuple[str, list[str]]]:
    """``count`` messages as (text, pieces); about one in five is a long message.

    The callers give long messages distinct references: a sender reusing a reference
    while the SMSC redelivers the old message's parts is a separate problem of the
    reassembler (test_inbound.py), not what this run is about.
    """
    workload = []
    for number in range(count):
        if rng.random() < 0.2:
            pieces = [f"long {number:03d} part {part} " for part in range(rng.choice((2, 3)))]
        else:
            pieces = [f"message {number:03d}"]
        workload.append(("".join(pieces), pieces))
    return workload


async def _adversity(
    proxy: AdversityProxy, progress: object, rng: random.Random, total: int
) -> tuple[int, int]:
    """Cut five times and tear one PDU, each when ``progress()`` (acks so far) passes a mark."""
    assert callable(progress)
    marks = sorted(rng.sample(range(total // 10, total * 9 // 10), 6))
    tear_at = rng.randrange(6)
    cuts = tears = 0
    for index, mark in enumerate(marks):
        # Only when a connection is up: a cut between two binds would cut nothing.
        await wait_until(lambda mark=mark: progress() >= mark and proxy.live, timeout=10)
        if index == tear_at:
            proxy.truncate_next(TO_CLIENT, keep=rng.randrange(1, 40))
            tears += 1
        elif proxy.cut():
            cuts += 1
    return cuts, tears


def _check_no_loss(
    workload: list[tuple[str, list[str]]], sink: ChaosSink, acked_messages: set[int]
) -> Counter[str]:
    whole = Counter(message.text for message in sink.stored if message.complete)
    missing = [text for text, _pieces in workload if whole[text] == 0]
    assert not missing, f"{len(missing)} messages never reached the sink whole: {missing[:5]}"
    texts = {text for text, _ in workload}
    for number in acked_messages:
        assert whole[workload[number][0]] >= 1
    assert set(whole) <= texts, "the sink got a message nobody sent (a mixed reassembly?)"
    return whole


async def test_no_loss_through_cuts_and_tears_with_the_fake_smsc() -> None:
    rng = random.Random(20240115)
    workload = _workload(rng, 500)
    async with FakeSmsc(window=20) as smsc, AdversityProxy(smsc.port) as proxy:
        sink = ChaosSink(rng)
        config = make_config(proxy.port, part_ack_hold=0.3, reassembly_timeout=2.0)
        connector = Connector(config, sink, rng=random.Random(1))
        async with running(connector):
            items = []
            references = iter(range(256))  # about 100 long messages
            for number, (_text, pieces) in enumerate(workload):
                pdus = udh_parts(pieces, next(references)) if len(pieces) > 1 else [mo(pieces[0])]
                items += [(f"{number}/{part}", pdu) for part, pdu in enumerate(pdus)]
            # Parts of a long message travel apart (as they do through a real SMSC's
            # queues), so that cuts fall between the parts of many messages.
            order = sorted(range(len(items)), key=lambda index: index + rng.uniform(0, 80))
            smsc.queue(items[index] for index in order)
            cuts, tears = await _adversity(proxy, lambda: sum(smsc.acked.values()), rng, 550)
            await wait_until(lambda: smsc.drained, timeout=15)
    # Every part was acked at least once, so every message must be in the sink, whole.
    acked_messages = {int(tag.split("/")[0]) for tag in smsc.acked}
    assert len(acked_messages) == len(workload)
    whole = _check_no_loss(workload, sink, acked_messages)
    # Guarantee 1 to the letter: no part was acked before its whole message was stored.
    early = [
        tag
        for tag, acked_at in smsc.acked_at.items()
        if acked_at < sink.stored_at[workload[int(tag.split("/")[0])][0]]
    ]
    assert not early, f"acked before their message was stored: {early}"
    duplicates = sum(whole.values()) - len(workload)
    assert (cuts, tears) == (5, 1)
    assert len(smsc.connections) >= 7
    assert proxy.truncation_pending is False
    print(  # the numbers are the point of an adversity run (seen with -s)
        f"fake SMSC: {len(workload)} messages, {len(smsc.connections)} connections, "
        f"{sink.failures} sink failures, {duplicates} duplicates, "
        f"{sum(smsc.deliveries.values())} deliver_sm for {len(items)} parts"
    )


async def test_no_loss_through_cuts_and_tears_with_the_simulator() -> None:
    rng = random.Random(20240116)
    workload = _workload(rng, 500)
    simulator = Simulator(
        SimulatorConfig(
            port=0,
            window=20,
            response_timeout=2.0,
            enquire_link_interval=None,
            redelivery_delay=0.02,
            max_redelivery_delay=0.1,
        )
    )
    async with simulator, AdversityProxy(simulator.port) as proxy:
        sink = ChaosSink(rng)
        config = make_config(proxy.port, part_ack_hold=0.3, reassembly_timeout=2.0)
        connector = Connector(config, sink, rng=random.Random(1))
        async with running(connector):
            await simulator.wait_for_receiver(3)
            ids = []
            for _text, pieces in workload:
                # Long texts are split by the simulator itself (UDH, 8-bit reference).
                text = "".join(pieces)
                if len(pieces) == 1:
                    ids.append(simulator.inject_mo(HANDSET, NUMBER, text))
                else:  # 16-bit references: distinct for the whole run
                    method = "udh16" if len(ids) % 2 else "sar"
                    ids.append(
                        simulator.inject_mo(HANDSET, NUMBER, text.ljust(170, "."), split=method)
                    )
            workload = [(text, [text]) for text in (_status(simulator, i).text for i in ids)]
            cuts, tears = await _adversity(proxy, lambda: simulator.stats().acked, rng, 550)
            await wait_until(
                lambda: all(m.state == "delivered" for m in simulator.messages()), timeout=15
            )
            connections = len(proxy.connections)
    acked_messages = set(range(len(workload)))  # every message is "delivered": all parts acked
    whole = _check_no_loss(workload, sink, acked_messages)
    duplicates = sum(whole.values()) - len(workload)
    assert (cuts, tears) == (5, 1)
    assert connections >= 7
    print(
        f"simulator: {len(workload)} messages, {connections} connections, "
        f"{sink.failures} sink failures, {duplicates} duplicates"
    )


def _status(simulator: Simulator, message_id: str) -> MessageStatus:
    status = simulator.message(message_id)
    assert status is not None
    return status


async def test_connector_state_follows_the_link(smsc: FakeSmsc, proxy: AdversityProxy) -> None:
    connector = Connector(
        make_config(proxy.port, reconnect_initial=0.3, reconnect_max=0.3), RecordingSink()
    )
    async with running(connector):
        await connector.wait_bound(2)
        assert connector.state is ConnectorState.BOUND
        proxy.cut()
        await wait_until(lambda: connector.state is ConnectorState.RECONNECTING)
        await wait_until(lambda: connector.state is ConnectorState.BOUND, timeout=2)
        assert connector.stats.reconnects == 1
