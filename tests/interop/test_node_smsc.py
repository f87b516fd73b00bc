"""Our connector (ESME) against an SMSC built on the npm ``smpp`` package (node/smsc.js).

node smpp encodes every deliver_sm here itself — GSM 03.38 with its own tables, UCS2 with
iconv — so what these tests prove is that our decoding, reassembly and acknowledgement
agree with an implementation nobody here wrote:

- every kind of deliver_sm a carrier sends arrives with its exact text: GSM extension
  characters, UCS2 with emoji, a UDH-concatenated message sent last part first, a UCS2
  message concatenated with sar_* TLVs, a message_payload, and a delivery receipt; also
  a UCS2 message with a 16-bit-reference UDH, and a data_sm;
- every deliver_sm is acked exactly once with status 0, and never before the sink returned;
- a sink that fails gets the PDUs answered ESME_RX_T_APPN, and the SMSC's redelivery is
  accepted afresh (for a long message too): nothing is lost;
- the bind (as transceiver or receiver) is a 3.4 bind node accepts, wrong credentials are
  refused and retried, enquire_link works both ways, and an unbind by the SMSC is answered
  and followed by a new bind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from interop_helpers import PeerProcess, run_node_script, split_gsm, split_ucs2, wait_until

from smslocker.gateway import (
    BindType,
    Connector,
    ConnectorConfig,
    InboundEvent,
    InboundMessage,
    InboundReceipt,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(30)]

SYSTEM_ID = "smslocker"
PASSWORD = "s3cret"
SHORT_CODE = "7001"
HANDSET = "447700900123"

ESME_ROK = 0x00
ESME_RX_T_APPN = 0x64

GSM_EXTENDED = "Price: 5€ [a] {b} ~c^ \\d |e| @£$¥ èéùìò ÄÖÑÜ§ äöñüà ΔΦΓΛΩΠΨΣΘΞ ok"
UCS2_EMOJI = "Привет 👋🏽 мир — 你好 🎉 ✓"
LONG_GSM = " ".join(
    f"part of a long GSM message {n} with extension chars €[]{{}}~^\\| and @£$" for n in range(5)
)
LONG_UCS2 = "".join(f"Длинное сообщение {n} 😀🚀 " for n in range(7)).strip()
PAYLOAD_TEXT = "Via message_payload, no short_message: " + "0123456789€ " * 20
RECEIPT_ID = "4F2A01BC"
RECEIPT_TEXT = (
    f"id:{RECEIPT_ID} sub:001 dlvrd:001 submit date:2401151230 done date:2401151231"
    " stat:DELIVRD err:000 text:Hello there"
)


def deliver_sm(short_message: Any = "", **params: Any) -> dict[str, Any]:
    """A deliver_sm step of smsc.js, from the handset to our short code."""
    pdu = {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": HANDSET,
        "destination_addr": SHORT_CODE,
        "short_message": short_message,
        **params,
    }
    return {"deliver_sm": pdu}


def receipt_step() -> dict[str, Any]:
    """A delivery receipt the way SMSCs send them: the text and the 3.4 TLVs (§9)."""
    return deliver_sm(
        RECEIPT_TEXT,
        data_coding=0,
        esm_class=0x04,
        receipted_message_id=RECEIPT_ID,
        message_state=2,
    )


def udh8(reference: int, total: int, number: int) -> dict[str, str]:
    return {"hex": bytes([0x05, 0x00, 0x03, reference, total, number]).hex()}


def udh_parts(text: str, reference: int) -> list[dict[str, Any]]:
    """``text`` as GSM deliver_sm steps with an 8-bit-reference UDH, in order."""
    pieces = split_gsm(text)
    return [
        deliver_sm(
            {"udh": udh8(reference, len(pieces), number), "message": piece},
            data_coding=0,
            esm_class=0x40,
        )
        for number, piece in enumerate(pieces, start=1)
    ]


def sar_parts(text: str, reference: int) -> list[dict[str, Any]]:
    """``text`` as UCS2 deliver_sm steps carrying sar_* TLVs, in order."""
    pieces = split_ucs2(text)
    return [
        deliver_sm(
            piece,
            data_coding=8,
            sar_msg_ref_num=reference,
            sar_total_segments=len(pieces),
            sar_segment_seqnum=number,
        )
        for number, piece in enumerate(pieces, start=1)
    ]


def udh16_parts(text: str, reference: int) -> list[dict[str, Any]]:
    """``text`` as UCS2 deliver_sm steps with a 16-bit-reference UDH, in order."""
    pieces = split_ucs2(text, 66)
    steps = []
    for number, piece in enumerate(pieces, start=1):
        header = bytes([0x06, 0x08, 0x04, reference >> 8, reference & 0xFF, len(pieces), number])
        udh = {"udh": {"hex": header.hex()}, "message": piece}
        steps.append(deliver_sm(udh, data_coding=8, esm_class=0x40))
    return steps


class RecordingSink:
    """Keeps every batch; ``before_return`` runs inside ``accept`` (to delay or to fail)."""

    def __init__(
        self, before_return: Callable[[list[InboundEvent]], Awaitable[None]] | None = None
    ) -> None:
        self.before_return = before_return
        self.batches: list[list[InboundEvent]] = []
        self.calls = 0

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        self.calls += 1
        events = list(batch)
        if self.before_return is not None:
            await self.before_return(events)
        self.batches.append(events)

    @property
    def events(self) -> list[InboundEvent]:
        return [event for batch in self.batches for event in batch]

    @property
    def messages(self) -> list[InboundMessage]:
        return [event for event in self.events if isinstance(event, InboundMessage)]

    @property
    def receipts(self) -> list[InboundReceipt]:
        return [event for event in self.events if isinstance(event, InboundReceipt)]


def smsc_config(script: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return {"system_id": SYSTEM_ID, "password": PASSWORD, "script": script, **options}


@asynccontextmanager
async def connected(
    smsc: PeerProcess, sink: RecordingSink, **options: Any
) -> AsyncIterator[Connector]:
    """Our connector bound to the node SMSC (or trying to), stopped on the way out."""
    listening = await smsc.wait_event("listening")
    settings: dict[str, Any] = {
        "name": "node-smsc",
        "host": "127.0.0.1",
        "port": listening["port"],
        "system_id": SYSTEM_ID,
        "password": PASSWORD,
        "bind": BindType.TRANSCEIVER,
        "enquire_link_interval": 5.0,
        "response_timeout": 2.0,
        "reconnect_initial": 0.1,
        "reconnect_max": 0.2,
        "ghost_timeout": None,
    } | options
    connector = Connector(ConnectorConfig(**settings), sink)
    connector.start()
    try:
        yield connector
    finally:
        await connector.stop(timeout=3.0)


def acks_by_sequence(smsc: PeerProcess) -> dict[int, list[dict[str, Any]]]:
    acks: dict[int, list[dict[str, Any]]] = {}
    for resp in smsc.find_event("resp"):
        acks.setdefault(resp["sequence"], []).append(resp)
    return acks


async def test_every_kind_of_deliver_sm_arrives_exactly_and_is_acked_once(
    node_interop_dir: Path,
) -> None:
    # Step indexes: 0 GSM, 1 UCS2, 2-4 UDH parts sent 3,1,2, 5-7 SAR parts,
    # 8 message_payload, 9 receipt, 10 an enquire_link of the SMSC's own.
    long_parts = udh_parts(LONG_GSM, reference=0x2A)
    assert len(long_parts) == 3
    sar = sar_parts(LONG_UCS2, reference=0x1234)
    assert len(sar) == 3
    script = [
        deliver_sm(GSM_EXTENDED, data_coding=0),
        deliver_sm(UCS2_EMOJI, data_coding=8),
        long_parts[2],
        long_parts[0],
        long_parts[1],
        *sar,
        deliver_sm("", data_coding=0, message_payload=PAYLOAD_TEXT),
        receipt_step(),
        {"enquire_link": True},
    ]
    parts_of = {GSM_EXTENDED: 1, UCS2_EMOJI: 1, LONG_GSM: 3, LONG_UCS2: 3, PAYLOAD_TEXT: 1}

    async with run_node_script(node_interop_dir, "smsc.js", smsc_config(script)) as smsc:
        sink = RecordingSink()
        async with connected(smsc, sink) as connector:
            await connector.wait_bound(timeout=5)
            await smsc.wait_event("done", timeout=10)
            await smsc.wait_event("enquire_link_resp", timeout=5)
            stats = connector.stats

        bind = smsc.find_event("bind")
        assert [(b["command"], b["interface_version"], b["ok"]) for b in bind] == [
            ("bind_transceiver", 0x34, True)
        ]

        # Every message with its exact text, coding and part count; the receipt as a receipt.
        received = {message.text: message for message in sink.messages}
        assert sorted(received) == sorted(parts_of), smsc.describe()
        assert len(sink.messages) == len(parts_of)
        for text, parts in parts_of.items():
            message = received[text]
            assert (message.parts, message.complete) == (parts, True), text
            assert (message.source, message.destination) == (HANDSET, SHORT_CODE)
        assert received[GSM_EXTENDED].data_coding == 0
        assert received[UCS2_EMOJI].data_coding == 8
        assert received[LONG_UCS2].data_coding == 8
        assert len(sink.receipts) == 1
        receipt = sink.receipts[0].receipt
        assert (receipt.message_id, receipt.state, receipt.message_state) == (
            RECEIPT_ID,
            "DELIVRD",
            2,
        )
        assert receipt.source == HANDSET

        # Every deliver_sm acked exactly once, with ESME_ROK, and nothing acked twice.
        sent = smsc.find_event("sent")
        assert sorted(s["index"] for s in sent) == list(range(10))
        acks = acks_by_sequence(smsc)
        for step in sent:
            answers = acks.get(step["sequence"], [])
            assert len(answers) == 1, f"step {step['index']} answered {len(answers)} times"
            assert answers[0]["command"] == "deliver_sm_resp"
            assert answers[0]["command_status"] == ESME_ROK
        assert sorted(acks) == sorted(s["sequence"] for s in sent)

        assert smsc.find_event("enquire_link_resp")[0]["command_status"] == ESME_ROK
        assert len(smsc.find_event("session")) == 1
        assert smsc.find_event("error") == []
        assert (stats.messages, stats.receipts, stats.acked, stats.nacked) == (5, 1, 10, 0)
        assert stats.reconnects == 0


async def test_a_deliver_sm_is_acked_only_after_the_sink_returned(node_interop_dir: Path) -> None:
    # Step 0 goes to a sink that takes its time; steps 1-3 follow at once.
    script = [
        deliver_sm(GSM_EXTENDED, data_coding=0),
        deliver_sm(UCS2_EMOJI, data_coding=8),
        deliver_sm("", data_coding=0, message_payload=PAYLOAD_TEXT),
        receipt_step(),
    ]
    step_of = {GSM_EXTENDED: 0, UCS2_EMOJI: 1, PAYLOAD_TEXT: 2}
    slow_delay = 0.3
    seen_while_slow: list[list[dict[str, Any]]] = []

    async with run_node_script(node_interop_dir, "smsc.js", smsc_config(script)) as smsc:

        async def slow_for_the_first(events: list[InboundEvent]) -> None:
            if any(isinstance(e, InboundMessage) and e.text == GSM_EXTENDED for e in events):
                await asyncio.sleep(slow_delay)
                # Still inside accept: node must not have seen an ack for step 0 yet.
                seen_while_slow.append(smsc.find_event("resp", index=0))

        sink = RecordingSink(slow_for_the_first)
        async with connected(smsc, sink) as connector:
            await connector.wait_bound(timeout=5)
            await smsc.wait_event("done", timeout=10)

        assert seen_while_slow == [[]]
        (slow_ack,) = smsc.find_event("resp", index=0)
        (slow_sent,) = smsc.find_event("sent", index=0)
        assert slow_ack["command_status"] == ESME_ROK
        # Two clocks (node's, asyncio's, which may wake a timer up to its resolution
        # early): the ack came after the sleep, give or take a few milliseconds. That it
        # came after the sink returned is `seen_while_slow` above.
        assert slow_ack["t"] - slow_sent["t"] >= slow_delay * 1000 - 5
        # PDUs that reached the sink in other batches were acked meanwhile, before it.
        (slow_batch,) = [b for b in sink.batches if 0 in steps_in(b, step_of)]
        others = [
            r for r in smsc.find_event("resp") if r["index"] not in steps_in(slow_batch, step_of)
        ]
        assert others, "every deliver_sm went to the sink in one batch: no ordering to check"
        assert all(r["t"] < slow_ack["t"] and r["command_status"] == ESME_ROK for r in others)


def steps_in(batch: list[InboundEvent], step_of: dict[str, int]) -> set[int]:
    """The script steps (one PDU each) whose events are in ``batch``; receipts are step 3."""
    return {step_of[event.text] if isinstance(event, InboundMessage) else 3 for event in batch}


async def test_a_16_bit_udh_message_and_a_data_sm_arrive_exactly(node_interop_dir: Path) -> None:
    parts = udh16_parts(LONG_UCS2, reference=0xBEEF)
    assert len(parts) == 3
    data_sm = {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": HANDSET,
        "destination_addr": SHORT_CODE,
        "data_coding": 8,
        "message_payload": UCS2_EMOJI,
    }
    script = [parts[1], parts[2], parts[0], {"data_sm": data_sm}]
    async with run_node_script(node_interop_dir, "smsc.js", smsc_config(script)) as smsc:
        sink = RecordingSink()
        async with connected(smsc, sink) as connector:
            await connector.wait_bound(timeout=5)
            await smsc.wait_event("done", timeout=10)

        assert sorted((m.text, m.parts, m.data_coding) for m in sink.messages) == sorted(
            [(LONG_UCS2, 3, 8), (UCS2_EMOJI, 1, 8)]
        )
        answers = smsc.find_event("resp")
        assert sorted(a["index"] for a in answers) == [0, 1, 2, 3]
        assert {a["command_status"] for a in answers} == {ESME_ROK}
        assert [a["command"] for a in answers if a["index"] == 3] == ["data_sm_resp"]


@pytest.mark.parametrize("long_message", [False, True], ids=["one-part", "three-parts"])
async def test_a_failing_sink_gets_the_pdus_nacked_and_the_redelivery_accepted(
    node_interop_dir: Path, long_message: bool
) -> None:
    if long_message:
        text = LONG_GSM
        script = udh_parts(text, reference=0x77)
    else:
        text = GSM_EXTENDED
        script = [deliver_sm(text, data_coding=0)]
    failures = 0

    async def fail_once(events: list[InboundEvent]) -> None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("database is down")

    config = smsc_config(script, redeliver=True, redeliver_delay_ms=50)
    async with run_node_script(node_interop_dir, "smsc.js", config) as smsc:
        sink = RecordingSink(fail_once)
        async with connected(smsc, sink) as connector:
            await connector.wait_bound(timeout=5)
            await smsc.wait_event("done", timeout=10)
            stats = connector.stats

        first = [r for r in smsc.find_event("resp") if r["attempt"] == 1]
        second = [r for r in smsc.find_event("resp") if r["attempt"] == 2]
        assert [r["command_status"] for r in first] == [ESME_RX_T_APPN] * len(script)
        assert [r["command_status"] for r in second] == [ESME_ROK] * len(script)
        assert [r for r in smsc.find_event("resp") if r["attempt"] > 2] == []
        assert sink.calls == 2
        assert [(m.text, m.parts, m.complete) for m in sink.messages] == [(text, len(script), True)]
        assert stats.sink_errors == 1
        assert (stats.acked, stats.nacked) == (len(script), len(script))


@pytest.mark.parametrize("bind", [BindType.TRANSCEIVER, BindType.RECEIVER])
async def test_bind_and_enquire_link_both_ways(node_interop_dir: Path, bind: BindType) -> None:
    script = [
        # No data_coding: node picks 0x01 (IA5) for text its GSM table covers.
        deliver_sm("first, in node's default coding"),
        {"enquire_link": True, "delay_ms": 100},
        {"enquire_link": True, "delay_ms": 100},
    ]
    async with run_node_script(node_interop_dir, "smsc.js", smsc_config(script)) as smsc:
        sink = RecordingSink()
        async with connected(smsc, sink, bind=bind, enquire_link_interval=0.2) as connector:
            await connector.wait_bound(timeout=5)
            # Ours: sent while idle, answered by node, and the link stays up.
            await smsc.wait_event("enquire_link", count=3, timeout=5)
            # The SMSC's: answered by us.
            await smsc.wait_event("enquire_link_resp", count=2, timeout=5)
            await wait_until(lambda: len(sink.messages) == 1, what="the message")
            stats = connector.stats

        assert [b["command"] for b in smsc.find_event("bind")] == [f"bind_{bind.value}"]
        assert [r["command_status"] for r in smsc.find_event("enquire_link_resp")] == [0, 0]
        assert sink.messages[0].text == "first, in node's default coding"
        assert sink.messages[0].data_coding == 0x01
        assert stats.reconnects == 0
        # On stop we unbound (node prints it on a pipe of its own: wait for the line).
        await smsc.wait_event("unbind")
        assert len(smsc.find_event("unbind")) == 1


async def test_wrong_password_is_refused_and_retried(node_interop_dir: Path) -> None:
    async with run_node_script(node_interop_dir, "smsc.js", smsc_config([])) as smsc:
        sink = RecordingSink()
        async with connected(smsc, sink, password="wrong") as connector:
            await smsc.wait_event("bind", count=2, timeout=5)
            # The operator sees why (read before stop(), which has its own last word).
            await wait_until(
                lambda: "bind refused" in (connector.stats.last_error or ""),
                what="'bind refused' in stats.last_error",
            )
            with pytest.raises(TimeoutError):
                await connector.wait_bound(timeout=0.2)
            binds, reconnects = connector.stats.binds, connector.stats.reconnects

        assert all(not bind["ok"] for bind in smsc.find_event("bind"))
        assert binds == 0
        assert reconnects >= 1


async def test_an_unbind_by_the_smsc_is_answered_and_followed_by_a_new_bind(
    node_interop_dir: Path,
) -> None:
    script = [deliver_sm("before the unbind", data_coding=0), {"unbind": True, "delay_ms": 100}]
    async with run_node_script(node_interop_dir, "smsc.js", smsc_config(script)) as smsc:
        sink = RecordingSink()
        async with connected(smsc, sink) as connector:
            await connector.wait_bound(timeout=5)
            unbound = await smsc.wait_event("unbind_resp", timeout=5)
            await smsc.wait_event("bind", count=2, timeout=5)
            await connector.wait_bound(timeout=5)
            stats = connector.stats

        assert unbound["command_status"] == ESME_ROK
        assert [m.text for m in sink.messages] == ["before the unbind"]
        assert smsc.find_event("resp", index=0)[0]["command_status"] == ESME_ROK
        assert stats.binds == 2
