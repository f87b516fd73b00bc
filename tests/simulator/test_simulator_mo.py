"""POST /mo: the deliver_sm that reach the ESME carry exactly the text that was posted."""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import pytest
from esme_client import Connect

from smslocker.simulator import Simulator
from smslocker.smpp.concat import CompletedMessage, Reassembler, Segment, split_udh
from smslocker.smpp.constants import EsmClass, Tag
from smslocker.smpp.pdu import DeliverSm
from smslocker.smpp.text import decode_text
from smslocker.smpp.tlv import find, get_int

LONG_GSM = "Long messages get cut into parts; each part carries its number. " * 6
LONG_UCS2 = "Ваш код 4829 🔐 — не сообщайте его никому. " * 5


def reassemble(pdus: Sequence[DeliverSm]) -> CompletedMessage:
    """Feed the received parts, in the order they came, to the codec's reassembler."""
    reassembler = Reassembler()
    completed = None
    for pdu in pdus:
        segment = Segment(
            source=pdu.source_addr,
            destination=pdu.destination_addr,
            esm_class=pdu.esm_class,
            data_coding=pdu.data_coding,
            short_message=pdu.short_message,
            message_payload=find(pdu.tlvs, Tag.MESSAGE_PAYLOAD),
            sar_msg_ref_num=get_int(pdu.tlvs, Tag.SAR_MSG_REF_NUM),
            sar_total_segments=get_int(pdu.tlvs, Tag.SAR_TOTAL_SEGMENTS),
            sar_segment_seqnum=get_int(pdu.tlvs, Tag.SAR_SEGMENT_SEQNUM),
        )
        completed = reassembler.add(segment, 0.0)
    assert completed is not None, "the parts did not make a whole message"
    return completed


async def post_mo(http: httpx.AsyncClient, **body: object) -> dict[str, object]:
    response = await http.post("/mo", json={"source": "447700900001", **body})
    assert response.status_code == 202, response.text
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


@pytest.mark.parametrize(
    ("text", "data_coding"),
    [
        ("Your code is 4829", 0x00),
        ("GSM extension: €[]{}|^~\\", 0x00),
        ("Ünécödé ÄÖÑÜ§¿à are in the basic table", 0x00),
        ("emoji 🔐 needs UCS2", 0x08),
        ("Кириллица", 0x08),
    ],
)
async def test_text_arrives_in_the_coding_chosen_for_it(
    http: httpx.AsyncClient, connect: Connect, text: str, data_coding: int
) -> None:
    client = await connect("receiver")
    answer = await post_mo(http, destination="447700900002", text=text)
    assert answer["parts"] == 1
    pdu = await client.next_deliver()
    assert pdu.data_coding == data_coding
    assert pdu.esm_class == 0
    assert decode_text(pdu.short_message, pdu.data_coding).text == text
    assert (pdu.source_addr, pdu.destination_addr) == ("447700900001", "447700900002")


async def test_an_explicit_data_coding_is_used(http: httpx.AsyncClient, connect: Connect) -> None:
    client = await connect("receiver")
    await post_mo(http, destination="447700900002", text="café", data_coding=3)
    pdu = await client.next_deliver()
    assert pdu.data_coding == 3
    assert pdu.short_message == "café".encode("latin-1")


async def test_alphanumeric_senders_get_ton_5(http: httpx.AsyncClient, connect: Connect) -> None:
    client = await connect("receiver")
    await http.post("/mo", json={"source": "Google", "destination": "+447700900002", "text": "G-1"})
    pdu = await client.next_deliver()
    assert (pdu.source_addr, pdu.source_addr_ton) == ("Google", 5)
    assert (pdu.destination_addr, pdu.dest_addr_ton) == ("447700900002", 1)


@pytest.mark.parametrize("split", ["udh8", "udh16", "sar"])
@pytest.mark.parametrize("text", [LONG_GSM, LONG_UCS2])
@pytest.mark.parametrize("shuffle", [False, True])
async def test_long_messages_are_split_and_reassemble(
    http: httpx.AsyncClient, connect: Connect, split: str, text: str, shuffle: bool
) -> None:
    client = await connect("receiver")
    answer = await post_mo(
        http, destination="447700900002", text=text, split=split, shuffle=shuffle
    )
    parts = answer["parts"]
    assert isinstance(parts, int)
    assert parts > 1
    pdus = await client.deliveries(parts)
    numbers = []
    for pdu in pdus:
        if split == "sar":
            assert not pdu.esm_class & EsmClass.UDHI
            numbers.append(get_int(pdu.tlvs, Tag.SAR_SEGMENT_SEQNUM))
        else:
            assert pdu.esm_class & EsmClass.UDHI
            header = split_udh(pdu.short_message)[0][0]
            assert header.iei == (0x00 if split == "udh8" else 0x08)
            numbers.append(header.data[-1])
    in_order = list(range(1, parts + 1))
    assert (numbers != in_order) if shuffle else (numbers == in_order)
    assert reassemble(pdus).text == text


@pytest.mark.parametrize("text", ["short", LONG_GSM, LONG_UCS2])
async def test_payload_sends_one_deliver_sm(
    http: httpx.AsyncClient, connect: Connect, text: str
) -> None:
    client = await connect("receiver")
    answer = await post_mo(http, destination="447700900002", text=text, split="payload")
    assert answer["parts"] == 1
    pdu = await client.next_deliver()
    assert pdu.short_message == b""
    payload = find(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    assert payload is not None
    assert decode_text(payload, pdu.data_coding).text == text


async def test_each_long_message_gets_its_own_reference(
    simulator: Simulator, connect: Connect
) -> None:
    client = await connect("receiver")
    ids = [simulator.inject_mo("1", "2", LONG_GSM, split="udh16") for _ in range(2)]
    parts = sum(len(status.parts) for status in map(simulator.message, ids) if status)
    pdus = await client.deliveries(parts)
    references = {split_udh(pdu.short_message)[0][0].data[:2] for pdu in pdus}
    assert len(references) == 2


async def test_get_mo_reports_state_and_attempts(http: httpx.AsyncClient, connect: Connect) -> None:
    client = await connect("receiver", ack=None)
    answer = await post_mo(http, destination="447700900002", text="hi")
    message_id = answer["id"]
    pdu = await client.next_deliver()
    in_flight = (await http.get(f"/mo/{message_id}")).json()
    assert (in_flight["state"], in_flight["attempts"]) == ("in_flight", 1)
    client.respond(pdu)
    await client.sync()
    done = (await http.get(f"/mo/{message_id}")).json()
    assert done["state"] == "delivered"
    assert done["parts"][0]["last_status"] == "ESME_ROK"
    assert done["done_at"] is not None
