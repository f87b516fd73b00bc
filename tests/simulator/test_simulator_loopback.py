"""What ESMEs submit comes back as MO, with receipts; query_sm, cancel_sm, replace_sm."""

from __future__ import annotations

import re

from esme_client import Connect, EsmeClient, MakeSimulator

from smslocker.simulator import Simulator
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import EsmClass, Tag
from smslocker.smpp.pdu import (
    CancelSm,
    DataSm,
    DeliverSm,
    DestAddress,
    DistributionList,
    Pdu,
    QuerySm,
    QuerySmResp,
    ReplaceSm,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
)
from smslocker.smpp.receipts import parse_receipt
from smslocker.smpp.text import decode_text
from smslocker.smpp.tlv import find, get_int, get_str, make_octets

HANDSET = "447700900999"
SERVICE = "447700900111"

RECEIPT_TEXT = re.compile(
    r"id:(?P<id>\w+) sub:001 dlvrd:00(?P<dlvrd>[01]) submit date:\d{10} done date:\d{10}"
    r" stat:(?P<stat>\w{7}) err:\d{3} text:(?P<text>.*)"
)


async def submit(client: EsmeClient, text: str = "Hello there", **fields: object) -> str:
    pdu = SubmitSm(
        source_addr=SERVICE,
        destination_addr=HANDSET,
        short_message=text.encode(),
        **fields,  # type: ignore[arg-type]
    )
    response = await client.request(pdu)
    assert response.ok, response
    assert isinstance(response.pdu, SubmitSmResp)
    assert response.pdu.message_id
    return response.pdu.message_id


def check_receipt(pdu: DeliverSm, message_id: str, stat: str, state: int) -> None:
    assert pdu.esm_class & EsmClass.DELIVERY_RECEIPT
    assert (pdu.source_addr, pdu.destination_addr) == (HANDSET, SERVICE)
    assert get_str(pdu.tlvs, Tag.RECEIPTED_MESSAGE_ID) == message_id
    assert get_int(pdu.tlvs, Tag.MESSAGE_STATE) == state
    text = decode_text(pdu.short_message, pdu.data_coding).text
    match = RECEIPT_TEXT.fullmatch(text)
    assert match, text
    assert (match["id"], match["stat"]) == (message_id, stat)
    parsed = parse_receipt(
        text,
        receipted_message_id=None,
        message_state=None,
        network_error_code=None,
        source=pdu.source_addr,
        destination=pdu.destination_addr,
    )
    assert (parsed.message_id, parsed.state) == (message_id, stat)


async def query(client: EsmeClient, message_id: str) -> QuerySmResp:
    response = await client.request(QuerySm(message_id=message_id, source_addr=SERVICE))
    assert isinstance(response.pdu, QuerySmResp)
    return response.pdu


async def test_a_submit_comes_back_as_mo_and_a_receipt_follows(connect: Connect) -> None:
    # The service's address_range keeps the MO for the handset off its own session.
    service = await connect("transceiver", address_range=SERVICE)
    handset = await connect("receiver", system_id="other", password="pw")
    message_id = await submit(service, "Your code is 4829", registered_delivery=1)
    mo = await handset.next_deliver()
    assert (mo.source_addr, mo.destination_addr) == (SERVICE, HANDSET)
    assert mo.short_message == b"Your code is 4829"
    assert not mo.esm_class & EsmClass.DELIVERY_RECEIPT
    check_receipt(await service.next_deliver(), message_id, "DELIVRD", 2)
    assert handset.pending_deliveries() == 0


async def test_a_transmitter_gets_its_receipt_on_a_receiver_of_the_same_system_id(
    simulator: Simulator, connect: Connect
) -> None:
    transmitter = await connect("transmitter")
    receiver = await connect("receiver")
    # Another account's receiver must not get it, even on its turn in the round robin.
    stranger = await connect("receiver", system_id="other", password="pw", address_range="^$")
    message_id = await submit(transmitter, registered_delivery=1)
    await receiver.next_deliver()  # the MO itself: HANDSET is served by this receiver
    check_receipt(await receiver.next_deliver(), message_id, "DELIVRD", 2)
    assert stranger.received == []


async def test_a_failed_delivery_gets_an_undeliverable_receipt(connect: Connect) -> None:
    service = await connect("transceiver", address_range=SERVICE)
    await connect("receiver", system_id="other", password="pw", ack=S.ESME_RX_P_APPN)
    message_id = await submit(service, registered_delivery=1)
    check_receipt(await service.next_deliver(), message_id, "UNDELIV", 5)


async def test_failure_only_receipts_are_not_sent_on_success(
    simulator: Simulator, connect: Connect
) -> None:
    service = await connect("transceiver", address_range=SERVICE)
    handset = await connect("receiver", system_id="other", password="pw")
    await submit(service, registered_delivery=2)
    await handset.next_deliver()
    await handset.sync()
    assert simulator.stats().receipts == 0


async def test_data_sm_comes_back_with_its_payload(connect: Connect) -> None:
    service = await connect("transceiver", address_range=SERVICE)
    handset = await connect("receiver", system_id="other", password="pw")
    request = DataSm(
        source_addr=SERVICE,
        destination_addr=HANDSET,
        data_coding=8,
        tlvs=(make_octets(Tag.MESSAGE_PAYLOAD, "код 🔐".encode("utf-16-be")),),
    )
    response = await service.request(request)
    assert response.ok
    assert response.pdu.message_id  # type: ignore[attr-defined]
    mo = await handset.next_deliver()
    payload = find(mo.tlvs, Tag.MESSAGE_PAYLOAD)
    assert payload is not None
    assert decode_text(payload, mo.data_coding).text == "код 🔐"


async def test_submit_multi_reaches_every_destination(connect: Connect) -> None:
    service = await connect("transceiver", address_range=SERVICE)
    handset = await connect("receiver", system_id="other", password="pw")
    request = SubmitMulti(
        source_addr=SERVICE,
        destinations=(DestAddress("447700900001", 1, 1), DestAddress("447700900002", 1, 1)),
        short_message=b"to both",
    )
    response = await service.request(request)
    assert response.ok
    pdus = await handset.deliveries(2)
    assert sorted(pdu.destination_addr for pdu in pdus) == ["447700900001", "447700900002"]
    lists = SubmitMulti(source_addr=SERVICE, destinations=(DistributionList("friends"),))
    refused = await service.request(lists)
    assert refused.pdu.command_status == S.ESME_RSUBMITFAIL


async def test_query_sm_follows_the_message(connect: Connect) -> None:
    service = await connect("transmitter")
    message_id = await submit(service)
    waiting = await query(service, message_id)
    assert (waiting.message_state, waiting.final_date) == (1, "")  # ENROUTE: nobody to take it
    handset = await connect("receiver", system_id="other", password="pw")
    await handset.next_deliver()
    await handset.sync()
    done = await query(service, message_id)
    assert done.message_state == 2
    assert len(done.final_date) == 16
    unknown = await service.request(QuerySm(message_id="nope", source_addr=SERVICE))
    assert unknown.pdu.command_status == S.ESME_RQUERYFAIL


async def test_cancel_sm_withdraws_a_waiting_message(connect: Connect) -> None:
    service = await connect("transmitter")
    message_id = await submit(service, "cancel me")
    kept_id = await submit(service, "keep me")
    assert (await service.request(CancelSm(message_id=message_id))).ok
    assert (await query(service, message_id)).message_state == 4  # DELETED
    handset = await connect("receiver", system_id="other", password="pw")
    assert (await handset.next_deliver()).short_message == b"keep me"
    await handset.sync()
    assert handset.pending_deliveries() == 0
    too_late = await service.request(CancelSm(message_id=kept_id))
    assert too_late.pdu.command_status == S.ESME_RCANCELFAIL
    unknown = await service.request(CancelSm(message_id="nope"))
    assert unknown.pdu.command_status == S.ESME_RINVMSGID


async def test_replace_sm_changes_a_waiting_message(connect: Connect) -> None:
    service = await connect("transmitter")
    message_id = await submit(service, "first draft")
    replacement = ReplaceSm(message_id=message_id, source_addr=SERVICE, short_message=b"final")
    assert (await service.request(replacement)).ok
    handset = await connect("receiver", system_id="other", password="pw")
    assert (await handset.next_deliver()).short_message == b"final"
    await handset.sync()
    again = await service.request(replacement)
    assert again.pdu.command_status == S.ESME_RREPLACEFAIL


async def test_destinations_not_served_are_refused(
    make_simulator: MakeSimulator, connect: Connect
) -> None:
    simulator = await make_simulator(loopback_destinations=r"33\d+")
    service = await connect("transmitter", port=simulator.port)
    response = await service.request(SubmitSm(source_addr=SERVICE, destination_addr=HANDSET))
    assert response.pdu.command_status == S.ESME_RINVDSTADR


async def test_a_receiver_may_not_submit(connect: Connect) -> None:
    receiver = await connect("receiver")
    # Our own ESME session refuses to send it: go behind its back.
    answer: Pdu = await receiver.request_raw(
        SubmitSm(sequence_number=77, source_addr=SERVICE, destination_addr=HANDSET)
    )
    assert answer.command_status == S.ESME_RINVBNDSTS
