"""PyPI ``smpplib`` (a synchronous ESME nobody here wrote) bound to our simulator.

smpplib runs in a worker thread (``smpplib_driver``) while the simulator keeps the test's
event loop. These tests prove that smpplib can bind_transceiver (and is refused with a
wrong password), receives injected MO messages whose raw octets decode to the exact text
(GSM with extension characters, UCS2 with emoji, a long UDH message sent out of order),
acks them so that the simulator marks them delivered, submits short and long messages
built with ``smpplib.gsm.make_parts`` and gets submit_sm_resp with message ids, the
loopback deliver_sm with the same user data and the receipts, and that enquire_link and
unbind work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
import smpplib.consts
import smpplib.gsm
from interop_helpers import (
    SIMULATOR_PASSWORD,
    SIMULATOR_SYSTEM_ID,
    Event,
    concat_reference,
    decode_user_data,
    split_ucs2,
    split_udh,
    wait_until,
)
from smpplib_driver import SmpplibEsme

if TYPE_CHECKING:
    from smslocker.simulator import Simulator

pytestmark = [pytest.mark.interop, pytest.mark.timeout(30)]

ESME_ROK = 0x00
ESME_RINVPASWD = 0x0E
SHORT_CODE = "7001"

# No "§": smpplib's GSM table has a back-tick in its place (SMPP.md §7.1), so make_parts
# would fall back to UCS2.
GSM_EXTENDED = "Price: 5€ [a] {b} ~c^ \\d |e| @£$¥ èéùìò ÄÖÑÜ äöñüà ΔΦΓΛΩΠΨΣΘΞ ok"
UCS2_EMOJI = "Привет 👋🏽 мир — 你好 🎉 ✓"
LONG_GSM = " ".join(
    f"Segment filler {n}: the €uro, [brackets], {{braces}}, ~tilde^ \\ |pipe|." for n in range(7)
)
LONG_UCS2 = "".join(f"Длинное сообщение {n} 😀🚀 " for n in range(8)).strip()


@asynccontextmanager
async def smpplib_bound(simulator: Simulator, **options: Any) -> AsyncIterator[SmpplibEsme]:
    esme = SmpplibEsme(
        "127.0.0.1",
        simulator.port,
        options.pop("system_id", SIMULATOR_SYSTEM_ID),
        options.pop("password", SIMULATOR_PASSWORD),
        **options,
    )
    esme.start()
    try:
        yield esme
    finally:
        await esme.stop()


def deliveries_from(esme: SmpplibEsme, source: str) -> list[Event]:
    return [e for e in esme.log.find_event("deliver_sm") if e["source_addr"] == source]


async def wait_deliveries(esme: SmpplibEsme, source: str, count: int) -> list[Event]:
    await esme.log.wait_for(
        lambda e: e.get("event") == "deliver_sm" and e["source_addr"] == source, count=count
    )
    return deliveries_from(esme, source)


def joined_text(parts: list[Event]) -> tuple[str, set[int]]:
    """The text of UDH-concatenated parts (user data joined in part order, then decoded)."""
    by_number: dict[int, bytes] = {}
    references = set()
    for part in parts:
        assert part["esm_class"] & 0x40, part
        elements, text_octets = split_udh(bytes.fromhex(part["short_message_hex"]))
        reference, total, number = concat_reference(elements)
        references.add((reference, total))
        by_number[number] = text_octets
    assert len(references) == 1, references
    ((reference, total),) = references
    assert sorted(by_number) == list(range(1, total + 1))
    (coding,) = {part["data_coding"] for part in parts}
    joined = b"".join(by_number[number] for number in sorted(by_number))
    return decode_user_data(joined, coding), {reference}


def delivered(simulator: Simulator, message_id: str) -> bool:
    status = simulator.message(message_id)
    return status is not None and status.state == "delivered"


async def test_bind_enquire_link_and_unbind(simulator: Simulator) -> None:
    async with smpplib_bound(simulator) as esme:
        bound = await esme.log.wait_event("bound")
        assert bound["system_id"] == "smslocker-sim"
        assert bound["sc_interface_version"] == 0x34
        assert len(simulator.sessions()) == 1
        esme.command("enquire_link")
        sent = await esme.log.wait_event("sent_enquire_link")
        answer = await esme.log.wait_event("read", command="enquire_link_resp")
        assert (answer["sequence"], answer["status"]) == (sent["sequence"], ESME_ROK)
        esme.command("unbind")
        unbound = await esme.log.wait_event("unbind_resp")
        assert unbound["status"] == ESME_ROK
        await wait_until(lambda: simulator.sessions() == [], what="the session to go")
    assert esme.log.find_event("error") == []


async def test_bind_with_a_wrong_password_is_refused(simulator: Simulator) -> None:
    async with smpplib_bound(simulator, password="wrong") as esme:
        refused = await esme.log.wait_event("bind_failed")
    assert refused["status"] == ESME_RINVPASWD
    assert simulator.stats().bind_failures == 1


async def test_injected_messages_arrive_with_their_exact_text(simulator: Simulator) -> None:
    async with smpplib_bound(simulator) as esme:
        await esme.log.wait_event("bound")
        gsm_id = simulator.inject_mo("447700900001", SHORT_CODE, GSM_EXTENDED)
        ucs2_id = simulator.inject_mo("447700900002", SHORT_CODE, UCS2_EMOJI)
        long_id = simulator.inject_mo("447700900003", SHORT_CODE, LONG_UCS2, shuffle=True)
        (gsm,) = await wait_deliveries(esme, "447700900001", 1)
        (ucs2,) = await wait_deliveries(esme, "447700900002", 1)
        parts = await wait_deliveries(esme, "447700900003", len(split_ucs2(LONG_UCS2)))
        # smpplib acked each deliver_sm with status 0: the simulator is done with them.
        for message_id in (gsm_id, ucs2_id, long_id):
            await wait_until(lambda m=message_id: delivered(simulator, m), what=message_id)

    assert gsm["data_coding"] == 0
    assert decode_user_data(bytes.fromhex(gsm["short_message_hex"]), 0) == GSM_EXTENDED
    assert (gsm["destination_addr"], gsm["source_addr_ton"]) == (SHORT_CODE, 1)
    assert ucs2["data_coding"] == 8
    assert decode_user_data(bytes.fromhex(ucs2["short_message_hex"]), 8) == UCS2_EMOJI
    assert joined_text(parts)[0] == LONG_UCS2
    assert esme.log.find_event("error") == []


async def test_submits_come_back_as_mo_messages_with_receipts(simulator: Simulator) -> None:
    handset = "447700900040"
    submissions: list[tuple[str, str, int]] = [
        (GSM_EXTENDED, handset, smpplib.consts.SMPP_ENCODING_DEFAULT),
        (UCS2_EMOJI, "447700900041", smpplib.consts.SMPP_ENCODING_DEFAULT),
        (LONG_GSM, "447700900042", smpplib.consts.SMPP_ENCODING_DEFAULT),
    ]
    async with smpplib_bound(simulator) as esme:
        await esme.log.wait_event("bound")
        expected_parts = {}
        for text, source, encoding in submissions:
            parts, coding, esm_class = smpplib.gsm.make_parts(text, encoding=encoding)
            expected_parts[source] = (parts, coding)
            for part in parts:
                esme.command(
                    "submit",
                    source_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    source_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    source_addr=source,
                    dest_addr_ton=smpplib.consts.SMPP_TON_UNK,
                    destination_addr=SHORT_CODE,
                    short_message=part,
                    data_coding=coding,
                    esm_class=esm_class,
                    registered_delivery=1 if source == handset else 0,
                )
        total = sum(len(parts) for parts, _ in expected_parts.values())
        await esme.log.wait_event("read", command="submit_sm_resp", count=total)
        mos = {
            source: await wait_deliveries(esme, source, len(parts))
            for source, (parts, _coding) in expected_parts.items()
        }
        receipt = await esme.log.wait_for(
            lambda e: e.get("event") == "deliver_sm" and e["esm_class"] & 0x3C == 0x04
        )

    sent = esme.log.find_event("sent_submit_sm")
    answers = {e["sequence"]: e for e in esme.log.find_event("read", command="submit_sm_resp")}
    assert sorted(answers) == sorted(e["sequence"] for e in sent)
    assert all(answer["status"] == ESME_ROK and answer["message_id"] for answer in answers.values())
    assert len({answer["message_id"] for answer in answers.values()}) == total

    # Loopback: the same user data, octet for octet, and so the same text.
    for source, (parts, coding) in expected_parts.items():
        received = mos[source]
        assert {e["data_coding"] for e in received} == {coding}
        assert sorted(bytes.fromhex(e["short_message_hex"]) for e in received) == sorted(parts)
    (gsm,) = mos[handset]
    assert decode_user_data(bytes.fromhex(gsm["short_message_hex"]), 0) == GSM_EXTENDED
    (emoji,) = mos["447700900041"]
    assert (
        emoji["data_coding"],
        decode_user_data(bytes.fromhex(emoji["short_message_hex"]), 8),
    ) == (
        8,
        UCS2_EMOJI,
    )
    assert joined_text(mos["447700900042"])[0] == LONG_GSM

    # The receipt, for the one submission that asked for it (the first submit_sm sent).
    first = answers[sent[0]["sequence"]]
    assert (receipt["source_addr"], receipt["destination_addr"]) == (SHORT_CODE, handset)
    assert receipt["tlvs"]["receipted_message_id"] == first["message_id"]
    assert receipt["tlvs"]["message_state"] == 2
    receipt_text = decode_user_data(bytes.fromhex(receipt["short_message_hex"]), 0)
    assert f"id:{first['message_id']} " in receipt_text
    assert "stat:DELIVRD" in receipt_text
    receipts = [e for e in esme.log.find_event("deliver_sm") if e["esm_class"] & 0x3C == 0x04]
    assert len(receipts) == 1
    assert esme.log.find_event("error") == []
