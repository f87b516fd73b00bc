"""InboundDecoder without sockets: PDUs in, messages, receipts and parts out.

What these tests prove:

- the hot path (one part, no TLVs) and the reassembler path give the same message for the
  same user data, in every coding family (GSM with extension characters, UCS2 with emoji,
  Latin-1, binary), and a one-part UDH message decodes the same as well;
- a data_sm carrying message_payload, and a deliver_sm with message_payload instead of
  short_message, give the whole text;
- an SCTS in schedule_delivery_time becomes ``smsc_timestamp`` (an aware datetime with
  the SMSC's offset), on both paths and for a long message; relative or invalid times
  give None rather than an error;
- receipts (esm_class message types, or receipted_message_id / message_state TLVs, in a
  deliver_sm or a data_sm) become InboundReceipt, never InboundMessage;
- long messages (UDH and SAR): parts are Pending until the last, then Assembled with one
  key; a redelivered part is a Duplicate that is not ``stored`` until the sink settled the
  message, and after a failed settle the parts make the message again;
- a standard TLV of the wrong length raises DecodeError carrying ESME_RINVPARLEN;
- packed GSM links decode;
- a reused reference must not glue a redelivered part of the old message into the new one.
"""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from gateway_support import HANDSET, NUMBER, mo, udh_parts
from hypothesis import given
from hypothesis import strategies as st

from smslocker.gateway import InboundMessage, InboundReceipt
from smslocker.gateway.inbound import Assembled, Duplicate, InboundDecoder, Pending, record_of
from smslocker.gateway.messages import one_part_fields
from smslocker.smpp.codec import decode as decode_pdu
from smslocker.smpp.codec import encode
from smslocker.smpp.concat import Reassembler
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import Tag
from smslocker.smpp.errors import DecodeError
from smslocker.smpp.pdu import DataSm, DeliverSm, Tlv
from smslocker.smpp.records import deliver_sm_from_record

RECEIVED_AT = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)


def decoder(*, packed: bool = False) -> InboundDecoder:
    return InboundDecoder("carrier-a", Reassembler(timeout=60.0, packed=packed), packed=packed)


def decode(target: InboundDecoder, pdu: DeliverSm | DataSm, now: float = 0.0) -> object:
    return target.decode(pdu, now, RECEIVED_AT)


CODINGS = [
    # (short_message, data_coding, text, binary)
    (b"Your code is 123456", 0x00, "Your code is 123456", None),
    # GSM 03.38 unpacked: 0x1B 0x65 is the euro sign, 0x1B 0x3C / 0x3E are brackets.
    (b"5\x1b\x65 \x1b\x3cok\x1b\x3e", 0x00, "5€ [ok]", None),
    ("Привет 👋🏽 мир".encode("utf-16-be"), 0x08, "Привет 👋🏽 мир", None),
    ("café crème".encode("latin-1"), 0x03, "café crème", None),
    (b"\x00\xff\x10", 0x04, "", b"\x00\xff\x10"),
]


@pytest.mark.parametrize(("short_message", "data_coding", "text", "binary"), CODINGS)
def test_hot_path_and_reassembler_path_give_the_same_message(
    short_message: bytes, data_coding: int, text: str, binary: bytes | None
) -> None:
    hot = mo("", short_message=short_message, data_coding=data_coding)
    # A vendor TLV takes the PDU off the hot path, through the reassembler.
    slow = replace(hot, tlvs=(Tlv(0x1401, b"\x01"),))
    one_part_udh = replace(
        hot, esm_class=0x40, short_message=bytes([5, 0, 3, 0x99, 1, 1]) + short_message
    )
    target = decoder()
    from_hot, from_slow, from_udh = (decode(target, pdu) for pdu in (hot, slow, one_part_udh))
    assert isinstance(from_hot, InboundMessage)
    assert (from_hot.text, from_hot.binary, from_hot.data_coding) == (text, binary, data_coding)
    assert from_slow == from_hot
    assert from_udh == from_hot
    assert (from_hot.source, from_hot.destination, from_hot.source_ton) == (HANDSET, NUMBER, 1)
    assert (from_hot.parts, from_hot.complete, from_hot.connector) == (1, True, "carrier-a")


addresses = st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=20)


@given(
    source=addresses,
    destination=addresses,
    source_ton=st.integers(min_value=0, max_value=6),
    destination_ton=st.integers(min_value=0, max_value=6),
    data_coding=st.sampled_from([0x00, 0x01, 0x03, 0x04, 0x05, 0x08, 0x10, 0x80, 0xF0, 0xF4]),
    short_message=st.binary(max_size=140),
    scts=st.sampled_from(["", "240115123456404+", "000000000500000R"]),
)
def test_hot_path_message_is_what_the_constructor_makes(
    source: str,
    destination: str,
    source_ton: int,
    destination_ton: int,
    data_coding: int,
    short_message: bytes,
    scts: str,
) -> None:
    # The hot path builds its InboundMessage from one_part_fields(), not through __init__;
    # the reassembler path (taken for a PDU with a vendor TLV) uses the constructor.
    sent = DeliverSm(
        source_addr=source,
        source_addr_ton=source_ton,
        destination_addr=destination,
        dest_addr_ton=destination_ton,
        data_coding=data_coding,
        short_message=short_message,
        schedule_delivery_time=scts,
    )
    received = decode_pdu(encode(sent))  # as a session hands it over (the unrolled decoder)
    assert received == sent
    target = decoder()
    hot = decode(target, received)
    slow = decode(target, replace(received, tlvs=(Tlv(0x1401, b"\x01"),)))
    assert type(hot) is type(slow) is InboundMessage
    assert hot == slow
    assert (hash(hot), repr(hot)) == (hash(slow), repr(slow))
    # Every field is in the instance itself, none left to the class: a sink reads them all.
    assert vars(hot) == {field.name: getattr(slow, field.name) for field in fields(slow)}


def test_decode_records_takes_the_ordinary_messages_a_run_starts_with() -> None:
    target = decoder()
    read = [mo("code 1"), mo("Привет"), mo("code 3", source="Bank")]
    expected = [decode(decoder(), pdu) for pdu in read]
    assert target.decode_records([record_of(pdu) for pdu in read], RECEIVED_AT) == expected
    # It stops at the first record that is not an ordinary one-part SMS.
    for odd in (
        replace(read[0], esm_class=0x04),
        udh_parts(["long ", "message"], 3)[0],
    ):
        records = [record_of(pdu) for pdu in (*read[:2], odd, read[2])]
        assert target.decode_records(records, RECEIVED_AT) == expected[:2]
        records = [record_of(pdu) for pdu in (odd, *read)]
        assert target.decode_records(records, RECEIVED_AT) == []
    packed = decoder(packed=True)
    assert packed.decode_records([record_of(pdu) for pdu in read], RECEIVED_AT) == []


@given(
    source=addresses,
    destination=addresses,
    esm_class=st.sampled_from([0x00, 0x03, 0x80]),
    data_coding=st.sampled_from([0x00, 0x01, 0x03, 0x04, 0x08, 0xF0]),
    short_message=st.binary(max_size=140),
)
def test_a_record_decodes_as_its_deliver_sm(
    source: str, destination: str, esm_class: int, data_coding: int, short_message: bytes
) -> None:
    # The connector decodes a run of records; decode() takes the DeliverSm the record
    # stands for (through the reassembler when it has a vendor TLV): the same message.
    pdu = DeliverSm(
        sequence_number=9,
        source_addr=source,
        source_addr_ton=1,
        destination_addr=destination,
        dest_addr_ton=2,
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=short_message,
    )
    record = record_of(pdu)
    assert deliver_sm_from_record(record) == pdu
    [message] = decoder().decode_records([record], RECEIVED_AT)
    assert message == decode(decoder(), pdu)
    assert message == decode(decoder(), replace(pdu, tlvs=(Tlv(0x1401, b"\x01"),)))
    assert vars(message) == {field.name: getattr(message, field.name) for field in fields(message)}


def test_one_part_fields_name_every_field() -> None:
    template = one_part_fields("carrier-a")
    assert list(template) == [field.name for field in fields(InboundMessage)]
    assert (template["connector"], template["data_coding"], template["encoding"]) == (
        "carrier-a",
        0,
        "gsm7",
    )


def test_data_sm_with_message_payload() -> None:
    text = "Via data_sm: " + "длинный текст " * 30
    pdu = DataSm(
        source_addr=HANDSET,
        destination_addr=NUMBER,
        data_coding=0x08,
        tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, text.encode("utf-16-be")),),
    )
    message = decode(decoder(), pdu)
    assert isinstance(message, InboundMessage)
    assert (message.text, message.parts, message.smsc_timestamp) == (text, 1, None)


def test_deliver_sm_with_message_payload_instead_of_short_message() -> None:
    text = "0123456789 " * 40  # 440 characters: more than one short_message
    pdu = mo("", tlvs=(Tlv(Tag.MESSAGE_PAYLOAD, text.encode("ascii")),))
    message = decode(decoder(), pdu)
    assert isinstance(message, InboundMessage)
    assert message.text == text


def test_scts_in_schedule_delivery_time_becomes_smsc_timestamp() -> None:
    expected = datetime(2024, 1, 15, 12, 34, 56, 400_000, tzinfo=timezone(timedelta(hours=1)))
    scts = "240115123456404+"  # tenths 4, +4 quarter hours
    target = decoder()
    hot = mo("code 1", schedule_delivery_time=scts)
    slow = replace(hot, tlvs=(Tlv(0x1401, b"\x01"),))
    for pdu in (hot, slow):
        message = decode(target, pdu)
        assert isinstance(message, InboundMessage)
        assert message.smsc_timestamp == expected
        assert message.received_at == RECEIVED_AT
    first, last = udh_parts(["long ", "message"], 3)
    assert isinstance(decode(target, replace(first, schedule_delivery_time=scts)), Pending)
    assembled = decode(target, replace(last, schedule_delivery_time=scts))
    assert isinstance(assembled, Assembled)
    assert assembled.message.smsc_timestamp == expected


@pytest.mark.parametrize("value", ["000000000500000R", "241315123456000+", ""])
def test_relative_invalid_or_missing_scts_gives_no_timestamp(value: str) -> None:
    message = decode(decoder(), mo("code", schedule_delivery_time=value))
    assert isinstance(message, InboundMessage)
    assert message.smsc_timestamp is None
    assert message.text == "code"


RECEIPT_TEXT = (
    b"id:4F2A01BC sub:001 dlvrd:001 submit date:2401151230 done date:2401151231"
    b" stat:DELIVRD err:000 text:Hello"
)


@pytest.mark.parametrize(
    ("pdu", "message_id", "state"),
    [
        (mo("", esm_class=0x04, short_message=RECEIPT_TEXT), "4F2A01BC", "DELIVRD"),
        (mo("", esm_class=0x08, short_message=RECEIPT_TEXT), "4F2A01BC", "DELIVRD"),
        (mo("", esm_class=0x44, short_message=RECEIPT_TEXT), "4F2A01BC", "DELIVRD"),
        (mo("", tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, b"77\x00"),)), "77", "UNKNOWN"),
        (
            DataSm(
                source_addr=NUMBER,
                destination_addr=HANDSET,
                tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, b"ab12\x00"), Tlv(Tag.MESSAGE_STATE, b"\x08")),
            ),
            "ab12",
            "REJECTD",
        ),
    ],
    ids=["esm_class-0x04", "sme-ack-0x08", "receipt-with-udhi", "tlv-only", "data_sm"],
)
def test_receipts_are_receipts(pdu: DeliverSm | DataSm, message_id: str, state: str) -> None:
    receipt = decode(decoder(), pdu)
    assert isinstance(receipt, InboundReceipt)
    assert not isinstance(receipt, InboundMessage)
    assert (receipt.receipt.message_id, receipt.receipt.state) == (message_id, state)
    assert (receipt.connector, receipt.received_at) == ("carrier-a", RECEIVED_AT)


def test_long_message_parts_pending_then_assembled_then_duplicates() -> None:
    target = decoder()
    first, second, third = udh_parts(["one ", "two ", "three"], 0x21)
    outcomes = [decode(target, pdu, now) for now, pdu in enumerate((third, first, second))]
    assert [type(outcome) for outcome in outcomes] == [Pending, Pending, Assembled]
    assembled = outcomes[2]
    assert isinstance(assembled, Assembled)
    assert {outcome.key for outcome in outcomes} == {assembled.key}  # type: ignore[attr-defined]
    assert (assembled.message.text, assembled.message.parts) == ("one two three", 3)
    # Redelivered before the sink answered: a duplicate that is not safe to ack yet.
    assert decode(target, first, 4.0) == Duplicate(assembled.key, stored=False)
    target.settle(assembled.key, stored=True)
    assert decode(target, second, 5.0) == Duplicate(assembled.key, stored=True)


def test_a_part_redelivered_while_its_message_is_pending_is_not_stored() -> None:
    target = decoder()
    first, _second = udh_parts(["one ", "two"], 0x22)
    pending = decode(target, first)
    assert isinstance(pending, Pending)
    assert decode(target, first, 1.0) == Duplicate(pending.key, stored=False)


def test_failed_settle_lets_the_redelivery_make_the_message_again() -> None:
    target = decoder()
    first, second = udh_parts(["made ", "twice"], 0x23)
    assert isinstance(decode(target, first), Pending)
    assembled = decode(target, second)
    assert isinstance(assembled, Assembled)
    target.settle(assembled.key, stored=False)
    assert isinstance(decode(target, first, 2.0), Pending)
    again = decode(target, second, 3.0)
    assert isinstance(again, Assembled)
    assert again.message.text == "made twice"


def test_sar_parts_are_reassembled() -> None:
    def sar_part(number: int, piece: str) -> DeliverSm:
        return mo(
            piece,
            tlvs=(
                Tlv(Tag.SAR_MSG_REF_NUM, (0x1234).to_bytes(2, "big")),
                Tlv(Tag.SAR_TOTAL_SEGMENTS, b"\x02"),
                Tlv(Tag.SAR_SEGMENT_SEQNUM, bytes([number])),
            ),
        )

    target = decoder()
    assert isinstance(decode(target, sar_part(2, "второй")), Pending)
    assembled = decode(target, sar_part(1, "первый "))
    assert isinstance(assembled, Assembled)
    assert (assembled.message.text, assembled.message.parts) == ("первый второй", 2)


@pytest.mark.parametrize(
    "bad_tlv",
    [Tlv(Tag.SAR_MSG_REF_NUM, b"\x00\x01\x02"), Tlv(Tag.MESSAGE_STATE, b"\x00\x02")],
    ids=["sar_msg_ref_num", "message_state"],
)
def test_standard_tlv_of_the_wrong_length_raises_rinvparlen(bad_tlv: Tlv) -> None:
    with pytest.raises(DecodeError) as raised:
        decode(decoder(), mo("x", tlvs=(bad_tlv,)))
    assert raised.value.status == S.ESME_RINVPARLEN


def test_packed_gsm_link() -> None:
    message = decode(decoder(packed=True), mo("", short_message=bytes.fromhex("E8329BFD06")))
    assert isinstance(message, InboundMessage)
    assert (message.text, message.encoding) == ("hello", "gsm7-packed")


def test_reused_reference_does_not_glue_a_redelivered_old_part_into_the_new_message() -> None:
    target = decoder()
    old = udh_parts(["OLD code 111111 ", "old tail"], 7)
    new = udh_parts(["NEW code 222222 ", "new tail"], 7)
    decode(target, old[0], 0.0)
    first = decode(target, old[1], 1.0)
    assert isinstance(first, Assembled)
    target.settle(first.key, stored=True)
    decode(target, old[1], 2.0)  # redelivered: our ack was lost on the way
    outcomes = [decode(target, pdu, 3.0 + n) for n, pdu in enumerate(new)]
    texts = [o.message.text for o in outcomes if isinstance(o, Assembled)]
    assert texts == ["NEW code 222222 new tail"]
