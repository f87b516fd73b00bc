"""deliver_sm records (smpp/records.py): the compact form of an ordinary deliver_sm.

What these tests prove:

- a record, when the decoder gives one, stands for exactly the DeliverSm the general
  decoder makes of the same body, for arbitrary, near-valid, mutated and valid bodies;
- the body is read only between its bounds: the same PDU between other bytes (the rest of
  a read) gives the same answer;
- an ordinary deliver_sm (no TLVs, every other field at its default) does give a record,
  and one with a TLV, a time string, a status or any other field off its default does not;
- a session asked for records reports them as DeliverSmRun events that stand for the
  events and answers of a session that is not, for any traffic a receiver may read.
"""

from __future__ import annotations

import dataclasses

import factory
import strategies as sst
from hypothesis import example, given
from hypothesis import strategies as st
from test_pdu import deliver_sm_like_bodies
from test_session import comparable, receiver_traffic

from smslocker.smpp.codec import decode_body, encode
from smslocker.smpp.constants import CommandId, Tag
from smslocker.smpp.errors import DecodeError
from smslocker.smpp.pdu import BindTransceiverResp, DeliverSm, Tlv
from smslocker.smpp.records import decode_deliver_sm_record, deliver_sm_from_record
from smslocker.smpp.session import Session, SessionConfig
from smslocker.smpp.session_events import DeliverSmRun, Event
from smslocker.smpp.states import Role


def assert_record_agrees(body: bytes, status: int = 0, sequence: int = 7) -> None:
    """The record of ``body`` is None or the DeliverSm that decode_body makes of it."""
    record = decode_deliver_sm_record(body, body.decode("latin-1"), 0, len(body), status, sequence)
    # Between other bytes: only body[start:end] counts.
    for before, after in ((b"\x00" * 30, b"\x00" * 30), (b"\x01" * 7, b"7\x00" * 40)):
        padded = before + body + after
        text = padded.decode("latin-1")
        start, end = len(before), len(before) + len(body)
        assert decode_deliver_sm_record(padded, text, start, end, status, sequence) == record
    if record is None:
        return
    general = decode_body(CommandId.DELIVER_SM, status, sequence, body)
    assert deliver_sm_from_record(record) == general
    assert type(record[3]) is type(record[6]) is str
    assert type(record[9]) is bytes


@given(st.binary(max_size=120), sst.statuses)
@example(b"", 0)
@example(b"\x00", 0)
@example(b"\x00\x01\x01", 0)
def test_record_agrees_on_arbitrary_bodies(body: bytes, status: int) -> None:
    assert_record_agrees(body, status)


@given(deliver_sm_like_bodies())
def test_record_agrees_on_near_valid_bodies(body: bytes) -> None:
    assert_record_agrees(body)


@given(sst.pdus_of(DeliverSm).map(lambda pdu: encode(pdu)[16:]).flatmap(sst.mutated))
def test_record_agrees_on_mutated_bodies(body: bytes) -> None:
    assert_record_agrees(body)


@given(sst.pdus_of(DeliverSm))
def test_record_agrees_on_valid_bodies(pdu: DeliverSm) -> None:
    assert_record_agrees(encode(pdu)[16:], pdu.command_status, pdu.sequence_number)


ordinary = st.builds(
    DeliverSm,
    sequence_number=sst.request_sequence_numbers,
    source_addr_ton=sst.octet,
    source_addr_npi=sst.octet,
    source_addr=sst.cstrings(21),
    dest_addr_ton=sst.octet,
    dest_addr_npi=sst.octet,
    destination_addr=sst.cstrings(21),
    esm_class=sst.octet,
    data_coding=sst.octet,
    short_message=st.binary(max_size=254),
)


@given(ordinary)
def test_an_ordinary_deliver_sm_gives_its_record(pdu: DeliverSm) -> None:
    body = encode(pdu)[16:]
    record = decode_deliver_sm_record(
        body, body.decode("latin-1"), 0, len(body), 0, pdu.sequence_number
    )
    assert record is not None
    assert deliver_sm_from_record(record) == pdu


@given(
    ordinary,
    st.sampled_from(
        [
            {"tlvs": (Tlv(Tag.USER_MESSAGE_REFERENCE, b"\x00\x01"),)},
            {"service_type": "CMT"},
            {"protocol_id": 1},
            {"priority_flag": 1},
            {"schedule_delivery_time": "240115123000004+"},
            {"validity_period": "000001000000000R"},
            {"registered_delivery": 1},
            {"replace_if_present_flag": 1},
            {"sm_default_msg_id": 1},
            {"command_status": 8},
        ]
    ),
)
def test_anything_else_gives_no_record(pdu: DeliverSm, change: dict[str, object]) -> None:
    pdu = dataclasses.replace(pdu, **change)  # type: ignore[arg-type]
    body = encode(pdu)[16:]
    text = body.decode("latin-1")
    assert decode_deliver_sm_record(body, text, 0, len(body), pdu.command_status, 1) is None


def expanded(events: list[Event]) -> list[Event]:
    """``events`` with each DeliverSmRun replaced by the PDUs its records stand for."""
    flat: list[Event] = []
    for event in events:
        if isinstance(event, DeliverSmRun):
            assert event.records  # a run is never empty
            flat.extend(deliver_sm_from_record(record) for record in event.records)
        else:
            flat.append(event)
    return flat


@given(receiver_traffic, st.sampled_from([0, 8, 0x58]))
def test_a_session_with_records_stands_for_one_without(pdus: list[bytes], status: int) -> None:
    bind_resp = encode(
        BindTransceiverResp(
            sequence_number=1, system_id="SMSC", tlvs=(Tlv(Tag.SC_INTERFACE_VERSION, b"\x34"),)
        )
    )
    outcomes = []
    for records in (False, True):
        session = Session(Role.ESME, SessionConfig(deliver_sm_records=records), now=0.0)
        session.send(factory.bind("transceiver"), now=0.0)
        session.data_to_send()
        events = session.receive_data(bind_resp, now=0.0)
        events += session.receive_data(b"".join(pdus), now=0.0)
        # Answer every deliver_sm, as a receiver does: records with respond_records.
        for event in events:
            if isinstance(event, DeliverSmRun):
                session.respond_records(event.records, status, now=0.0)
            elif isinstance(event, DeliverSm):
                session.respond_each([event], status, now=0.0)
        outcomes.append((comparable(expanded(events)), session.data_to_send(), session.state))
    without, with_records = outcomes
    assert with_records == without


def test_a_read_of_ordinary_deliver_sm_is_one_run() -> None:
    session = Session(Role.ESME, SessionConfig(deliver_sm_records=True), now=0.0)
    session.send(factory.bind("transceiver"), now=0.0)
    session.receive_data(encode(BindTransceiverResp(sequence_number=1)), now=0.0)
    sent = [dataclasses.replace(factory.deliver_sm(f"code {n}"), sequence_number=n) for n in (5, 6)]
    odd = dataclasses.replace(sent[0], sequence_number=7, tlvs=(Tlv(0x1400, b"x"),))
    events = session.receive_data(b"".join(encode(pdu) for pdu in (*sent, odd, *sent)), now=0.0)
    assert [type(event) for event in events] == [DeliverSmRun, DeliverSm, DeliverSmRun]
    assert expanded(events) == [*sent, odd, *sent]


def test_decode_error_still_answered_with_records() -> None:
    # A malformed deliver_sm gives no record: the general path answers it with its status.
    session = Session(Role.ESME, SessionConfig(deliver_sm_records=True), now=0.0)
    session.send(factory.bind("transceiver"), now=0.0)
    session.receive_data(encode(BindTransceiverResp(sequence_number=1)), now=0.0)
    session.data_to_send()
    body = encode(factory.deliver_sm("x"))[16:]
    broken = body[:-3]
    try:
        decode_body(CommandId.DELIVER_SM, 0, 3, broken)
    except DecodeError as error:
        expected = error.status
    else:  # pragma: no cover - the body is cut inside short_message
        raise AssertionError("not malformed")
    header = (16 + len(broken)).to_bytes(4, "big") + bytes.fromhex("00000005 00000000 00000003")
    session.receive_data(header + broken, now=0.0)
    answer = session.data_to_send()
    assert int.from_bytes(answer[8:12], "big") == expected


@given(
    st.lists(sst.sequence_numbers, max_size=300),
    st.sampled_from([0, 8, 0x58, 0xFFFFFFFF]),
)
def test_respond_records_is_respond_each(sequences: list[int], status: int) -> None:
    # The answers are laid into one buffer by strided slices: same bytes as one by one.
    records = [
        (sequence, 1, 1, "447700900123", 1, 1, "447700900456", 0, 0, b"hi")
        for sequence in sequences
    ]
    one_by_one = Session(Role.ESME, now=0.0)
    one_by_one.respond_each([deliver_sm_from_record(r) for r in records], status, now=0.0)
    together = Session(Role.ESME, now=0.0)
    together.respond_records(records, status, now=0.0)
    assert together.data_to_send() == one_by_one.data_to_send()
