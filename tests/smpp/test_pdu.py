"""The PDU codec: round trips, the worked examples of SMPP.md, strictness, fuzzing."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import factory
import pytest
import strategies as sst
from hypothesis import example, given
from hypothesis import strategies as st

from smslocker.smpp import pdu as pdu_module
from smslocker.smpp.codec import decode, decode_body, encode
from smslocker.smpp.constants import RESPONSE_BIT, CommandId, Tag, status_name
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.errors import DecodeError, LocalProtocolError, SmppError
from smslocker.smpp.pdu import (
    CLASS_BY_COMMAND_ID,
    PDU_CLASSES,
    AlertNotification,
    BindTransceiver,
    BindTransceiverResp,
    DeliverSm,
    DestAddress,
    DistributionList,
    EnquireLink,
    GenericNack,
    Outbind,
    Pdu,
    SubmitMulti,
    SubmitMultiResp,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    UnknownPdu,
    UnsuccessfulDelivery,
    response_to,
)
from smslocker.smpp.tlv import get_int

REQUEST_CLASSES = [cls for cls in PDU_CLASSES if not cls.command_id & RESPONSE_BIT]
RESPONSE_CLASSES = [cls for cls in PDU_CLASSES if cls.command_id & RESPONSE_BIT]
NO_RESPONSE = {Outbind, AlertNotification}


def hexbytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def field_values(pdu: Pdu) -> dict[str, Any]:
    return {f.name: getattr(pdu, f.name) for f in dataclasses.fields(pdu)}


def header(length: int, command_id: int, status: int = 0, sequence: int = 1) -> bytes:
    return b"".join(n.to_bytes(4, "big") for n in (length, command_id, status, sequence))


def with_header(command_id: int, body: bytes, status: int = 0, sequence: int = 1) -> bytes:
    return header(16 + len(body), command_id, status, sequence) + body


# -- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", PDU_CLASSES, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_every_pdu_class_round_trips(cls: type[Pdu], data: st.DataObject) -> None:
    pdu = data.draw(sst.pdus_of(cls))
    wire = encode(pdu)
    decoded = decode(wire)
    assert type(decoded) is cls
    assert decoded == pdu
    assert encode(decoded) == wire
    assert int.from_bytes(wire[:4], "big") == len(wire)


@given(sst.unknown_pdus)
def test_unknown_pdu_round_trips(pdu: UnknownPdu) -> None:
    decoded = decode(encode(pdu))
    assert isinstance(decoded, UnknownPdu)
    assert decoded == pdu
    assert decoded.is_response == bool(pdu.unknown_command_id & RESPONSE_BIT)


def test_strategies_cover_every_pdu_class() -> None:
    # A new PDU class with a field kind the strategies do not know must fail here, not skip.
    for cls in PDU_CLASSES:
        for _name, kind, size, _status in cls._layout:
            assert sst.field_strategy(kind, size) is not None


# -- the hand-unrolled deliver_sm decoder --------------------------------------------------


def _decode_or_status(command_id: int, status: int, sequence: int, body: bytes) -> object:
    """The PDU, or what the DecodeError says: (status, command_id, sequence_number)."""
    try:
        return decode_body(command_id, status, sequence, body)
    except DecodeError as error:
        caught = error
    assert (caught.command_id, caught.sequence_number) == (command_id, sequence)
    return ("DecodeError", caught.status)


def assert_hot_path_agrees(body: bytes, status: int = 0, sequence: int = 7) -> None:
    """deliver_sm's unrolled decoder gives what the generic walk of the same layout gives.

    submit_sm shares deliver_sm's layout object and is decoded by the generic walk, so
    decoding the body as a submit_sm is the reference.
    """
    assert DeliverSm._layout is SubmitSm._layout
    fast = _decode_or_status(CommandId.DELIVER_SM, status, sequence, body)
    generic = _decode_or_status(CommandId.SUBMIT_SM, status, sequence, body)
    if isinstance(generic, SubmitSm):
        assert isinstance(fast, DeliverSm), (fast, generic)
        assert field_values(fast) == field_values(generic)
        assert fast == DeliverSm(**field_values(generic))
        assert hash(fast) == hash(DeliverSm(**field_values(generic)))
        assert repr(fast) == repr(DeliverSm(**field_values(generic)))
        assert type(fast.short_message) is bytes
        # Its __dict__ leaves fields at their default to the class: everything that copies
        # or serialises a PDU still sees all of them.
        assert dataclasses.asdict(fast) == dataclasses.asdict(DeliverSm(**field_values(generic)))
        assert pickle.loads(pickle.dumps(fast)) == fast
        assert copy.copy(fast) == fast
        assert dataclasses.replace(fast) == fast
        assert encode(fast)[16:] == encode(DeliverSm(**field_values(generic)))[16:]
    else:
        assert fast == generic


@st.composite
def deliver_sm_like_bodies(draw: st.DrawFn) -> bytes:
    """Bodies close to a deliver_sm: fields around their maxima, times, sm_length off by a bit."""

    def cstring(limit: int) -> bytes:
        length = draw(st.integers(min_value=0, max_value=limit + 2))
        terminated = draw(st.integers(min_value=0, max_value=9)) > 0
        return b"7" * length + (b"\x00" if terminated else b"")

    def time() -> bytes:
        return draw(
            st.sampled_from(
                [b"\x00", b"240115123000004+\x00", b"000001000000000R\x00", b"2401\x00", b"9" * 17]
            )
        )

    message = draw(st.binary(max_size=40))
    declared = max(0, min(255, len(message) + draw(st.integers(min_value=-2, max_value=2))))
    tail = draw(
        st.sampled_from([b"", b"\x04\x24\x00\x02ok", b"\x14\x00\x00\x01\x01", b"\x02", b"\x00\x1e"])
    )
    return b"".join(
        [
            cstring(5),
            draw(st.binary(min_size=2, max_size=2)),
            cstring(20),
            draw(st.binary(min_size=2, max_size=2)),
            cstring(20),
            draw(st.binary(min_size=3, max_size=3)),
            time(),
            time(),
            draw(st.binary(min_size=4, max_size=4)),
            bytes((declared,)),
            message,
            tail,
        ]
    )[: draw(st.integers(min_value=0, max_value=400))]


@given(st.binary(max_size=120), sst.statuses)
@example(b"", 0)
@example(b"\x00", 0)
def test_hot_path_agrees_with_generic_walk_on_arbitrary_bodies(body: bytes, status: int) -> None:
    assert_hot_path_agrees(body, status)


@given(deliver_sm_like_bodies())
def test_hot_path_agrees_with_generic_walk_on_near_valid_bodies(body: bytes) -> None:
    assert_hot_path_agrees(body)


@given(sst.pdus_of(DeliverSm).map(lambda pdu: encode(pdu)[16:]).flatmap(sst.mutated))
def test_hot_path_agrees_with_generic_walk_on_mutated_bodies(body: bytes) -> None:
    assert_hot_path_agrees(body)


@given(sst.pdus_of(DeliverSm))
def test_hot_path_agrees_with_generic_walk_on_valid_bodies(pdu: DeliverSm) -> None:
    assert_hot_path_agrees(encode(pdu)[16:], pdu.command_status, pdu.sequence_number)


def test_hot_path_result_is_an_ordinary_dataclass() -> None:
    pdu = decode(encode(factory.deliver_sm("hello", tlvs=(Tlv(0x1400, b"x"),))))
    assert isinstance(pdu, DeliverSm)
    changed = dataclasses.replace(pdu, short_message=b"bye")
    assert changed.short_message == b"bye"
    assert changed.source_addr == "447700900123"
    with pytest.raises(dataclasses.FrozenInstanceError):
        pdu.short_message = b"x"  # type: ignore[misc]


# -- the worked examples of SMPP.md --------------------------------------------------------

ENQUIRE_LINK = "00 00 00 10 00 00 00 15 00 00 00 00 00 00 00 01"
BIND_TRANSCEIVER = (
    "00 00 00 1d 00 00 00 09 00 00 00 00 00 00 00 02 74 65 73 74 00 70 77 00 00 34 00 00 00"
)
BIND_TRANSCEIVER_RESP = (
    "00 00 00 1a 80 00 00 09 00 00 00 00 00 00 00 02 53 4d 53 43 00 02 10 00 01 34"
)
SUBMIT_SM = (
    "00 00 00 33 00 00 00 04 00 00 00 00 00 00 00 03 00 05 00 53 68 6f 70 00 01 01 34 34 37 37 "
    "30 30 39 30 30 31 32 33 00 00 00 00 00 00 01 00 00 00 02 48 69"
)
SUBMIT_SM_RESP = "00 00 00 17 80 00 00 04 00 00 00 00 00 00 00 03 35 46 32 41 30 31 00"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(ENQUIRE_LINK, EnquireLink(sequence_number=1), id="enquire_link"),
        pytest.param(
            BIND_TRANSCEIVER,
            BindTransceiver(sequence_number=2, system_id="test", password="pw"),
            id="bind_transceiver",
        ),
        pytest.param(
            BIND_TRANSCEIVER_RESP,
            BindTransceiverResp(
                sequence_number=2, system_id="SMSC", tlvs=(Tlv(Tag.SC_INTERFACE_VERSION, b"\x34"),)
            ),
            id="bind_transceiver_resp",
        ),
        pytest.param(
            SUBMIT_SM,
            factory.submit_sm("Hi", source="Shop", destination="447700900123", sequence_number=3),
            id="submit_sm",
        ),
        pytest.param(
            SUBMIT_SM_RESP,
            SubmitSmResp(sequence_number=3, message_id="5F2A01"),
            id="submit_sm_resp",
        ),
    ],
)
def test_worked_examples(wire: str, expected: Pdu) -> None:
    data = hexbytes(wire)
    assert decode(data) == expected
    assert encode(expected) == data


def test_worked_example_fields_spelled_out() -> None:
    submit = decode(hexbytes(SUBMIT_SM))
    assert isinstance(submit, SubmitSm)
    assert (submit.source_addr_ton, submit.source_addr_npi, submit.source_addr) == (5, 0, "Shop")
    assert (submit.dest_addr_ton, submit.dest_addr_npi) == (1, 1)
    assert submit.destination_addr == "447700900123"
    assert (submit.registered_delivery, submit.data_coding) == (1, 0)
    assert submit.short_message == b"Hi"
    bind = decode(hexbytes(BIND_TRANSCEIVER))
    assert isinstance(bind, BindTransceiver)
    assert (bind.system_id, bind.password, bind.system_type) == ("test", "pw", "")
    assert bind.interface_version == 0x34
    bind_resp = decode(hexbytes(BIND_TRANSCEIVER_RESP))
    assert get_int(bind_resp.tlvs, Tag.SC_INTERFACE_VERSION) == 0x34
    assert decode(hexbytes(ENQUIRE_LINK)).command_id == CommandId.ENQUIRE_LINK


# -- encode refuses what SMPP cannot carry -------------------------------------------------


def _filled(cls: type[Pdu]) -> Pdu:
    """An instance of ``cls`` that encodes (submit_multi needs a destination)."""
    if cls is SubmitMulti:
        return factory.submit_multi()
    return cls()


def _fields(cls: type[Pdu], kind: int) -> list[tuple[int, str, int, int]]:
    """(index, name, size, status) of each field of ``kind`` in the layout of ``cls``."""
    return [
        (index, name, size, status)
        for index, (name, field_kind, size, status) in enumerate(cls._layout)
        if field_kind == kind
    ]


def _classes_with(kind: int) -> list[Any]:
    """The PDU classes with a field of ``kind``, for parametrize (one test per class)."""
    return [pytest.param(cls, id=cls.__name__) for cls in PDU_CLASSES if _fields(cls, kind)]


@pytest.mark.parametrize("cls", _classes_with(pdu_module.CSTR))
def test_encode_refuses_a_string_over_its_maximum(cls: type[Pdu]) -> None:
    for _index, name, size, _status in _fields(cls, pdu_module.CSTR):
        fits = dataclasses.replace(_filled(cls), **{name: "x" * (size - 1)})
        assert getattr(decode(encode(fits)), name) == "x" * (size - 1)
        with pytest.raises(LocalProtocolError, match=name):
            encode(dataclasses.replace(fits, **{name: "x" * size}))
        with pytest.raises(LocalProtocolError, match=name):
            encode(dataclasses.replace(fits, **{name: "a\x00b"}))
        with pytest.raises(LocalProtocolError, match=name):
            encode(dataclasses.replace(fits, **{name: "€"}))


@pytest.mark.parametrize("cls", _classes_with(pdu_module.U8))
def test_encode_refuses_an_integer_out_of_range(cls: type[Pdu]) -> None:
    pdu = _filled(cls)
    for _index, name, _size, _status in _fields(cls, pdu_module.U8):
        assert getattr(decode(encode(dataclasses.replace(pdu, **{name: 255}))), name) == 255
        for value in (256, -1):
            with pytest.raises(LocalProtocolError, match=name):
                encode(dataclasses.replace(pdu, **{name: value}))


@pytest.mark.parametrize("cls", _classes_with(pdu_module.TIME))
def test_encode_refuses_a_malformed_time_string(cls: type[Pdu]) -> None:
    pdu = _filled(cls)
    for _index, name, _size, _status in _fields(cls, pdu_module.TIME):
        for bad in ("2401151230", "240115123000004+0", "240115123000004\x00"):
            with pytest.raises(LocalProtocolError, match=name):
                encode(dataclasses.replace(pdu, **{name: bad}))


@pytest.mark.parametrize("cls", _classes_with(pdu_module.SM))
def test_encode_refuses_a_short_message_over_254_octets(cls: type[Pdu]) -> None:
    [(_index, _name, size, _status)] = _fields(cls, pdu_module.SM)
    assert size == 254
    pdu = _filled(cls)
    assert decode(encode(dataclasses.replace(pdu, short_message=b"x" * 254))) == (
        dataclasses.replace(pdu, short_message=b"x" * 254)
    )
    with pytest.raises(LocalProtocolError, match="short_message"):
        encode(dataclasses.replace(pdu, short_message=b"x" * 255))


@pytest.mark.parametrize(
    "pdu",
    [
        pytest.param(EnquireLink(sequence_number=1 << 32), id="sequence_number"),
        pytest.param(EnquireLink(sequence_number=-1), id="negative sequence_number"),
        pytest.param(EnquireLink(command_status=1 << 32), id="command_status"),
        pytest.param(EnquireLink(tlvs=(Tlv(0x10000, b""),)), id="tlv tag"),
        pytest.param(EnquireLink(tlvs=(Tlv(-1, b""),)), id="negative tlv tag"),
        pytest.param(EnquireLink(tlvs=(Tlv(0x1400, bytes(0x10000)),)), id="tlv length"),
        pytest.param(SubmitMulti(destinations=()), id="no destinations"),
        pytest.param(
            SubmitMulti(destinations=(DistributionList("x"),) * 255), id="255 destinations"
        ),
        pytest.param(SubmitMulti(destinations=(DestAddress("1", ton=256),)), id="destination ton"),
        pytest.param(SubmitMulti(destinations=(DestAddress("1", npi=-1),)), id="destination npi"),
        pytest.param(SubmitMulti(destinations=(DestAddress("1" * 21),)), id="destination too long"),
        pytest.param(SubmitMulti(destinations=(DistributionList("d" * 21),)), id="dl too long"),
        pytest.param(
            SubmitMultiResp(unsuccessful=(UnsuccessfulDelivery("1", 1 << 32),)),
            id="error_status_code",
        ),
        pytest.param(
            SubmitMultiResp(unsuccessful=(UnsuccessfulDelivery("1", 0, ton=256),)),
            id="unsuccessful ton",
        ),
        pytest.param(
            SubmitMultiResp(unsuccessful=(UnsuccessfulDelivery("1", 0),) * 255),
            id="255 unsuccessful",
        ),
        pytest.param(UnknownPdu(unknown_command_id=1 << 32), id="unknown command_id"),
        pytest.param(UnknownPdu(unknown_command_id=-1), id="negative unknown command_id"),
    ],
)
def test_encode_raises_local_protocol_error(pdu: Pdu) -> None:
    with pytest.raises(LocalProtocolError):
        encode(pdu)


# -- strict decoding of mandatory fields ---------------------------------------------------


def _encode_value(kind: int, value: Any) -> bytes:
    """The wire form of one layout field, written independently of pdu.py."""
    if kind == pdu_module.U8:
        return bytes((value,))
    if kind in (pdu_module.CSTR, pdu_module.TIME):
        return str(value).encode("latin-1") + b"\x00"
    if kind == pdu_module.SM:
        return bytes((len(value),)) + value
    if kind == pdu_module.DESTS:
        parts = [bytes((len(value),))]
        for destination in value:
            if isinstance(destination, DestAddress):
                parts.append(bytes((1, destination.ton, destination.npi)))
                parts.append(destination.address.encode("latin-1") + b"\x00")
            else:
                parts.append(b"\x02" + destination.name.encode("latin-1") + b"\x00")
        return b"".join(parts)
    if kind == pdu_module.UNSUCCESS:
        parts = [bytes((len(value),))]
        for entry in value:
            parts.append(bytes((entry.ton, entry.npi)) + entry.address.encode() + b"\x00")
            parts.append(entry.error_status_code.to_bytes(4, "big"))
        return b"".join(parts)
    raise AssertionError(kind)


def _body_parts(pdu: Pdu) -> list[bytes]:
    return [_encode_value(kind, getattr(pdu, name)) for name, kind, _size, _ in pdu._layout]


def test_independent_field_encoder_matches_the_codec() -> None:
    # The strictness tests below build bodies with _encode_value; make sure it is right.
    for cls in PDU_CLASSES:
        pdu = _filled(cls)
        assert b"".join(_body_parts(pdu)) == encode(pdu)[16:], cls.__name__


@pytest.mark.parametrize("cls", _classes_with(pdu_module.CSTR))
def test_decode_refuses_a_string_over_its_maximum(cls: type[Pdu]) -> None:
    for index, name, size, status in _fields(cls, pdu_module.CSTR):
        parts = _body_parts(_filled(cls))
        parts[index] = b"x" * (size - 1) + b"\x00"
        decoded = decode(with_header(cls.command_id, b"".join(parts)))
        assert getattr(decoded, name) == "x" * (size - 1)
        parts[index] = b"x" * size + b"\x00"
        with pytest.raises(DecodeError) as caught:
            decode(with_header(cls.command_id, b"".join(parts), sequence=9))
        assert caught.value.status == status, name
        assert caught.value.sequence_number == 9
        assert caught.value.command_id == cls.command_id


@pytest.mark.parametrize("cls", _classes_with(pdu_module.CSTR))
def test_decode_refuses_a_string_without_nul(cls: type[Pdu]) -> None:
    for index, name, size, status in _fields(cls, pdu_module.CSTR):
        prefix = b"".join(_body_parts(_filled(cls))[:index])
        with pytest.raises(DecodeError) as caught:
            decode(with_header(cls.command_id, prefix + b"x" * (size - 2)))
        assert caught.value.status == status, name


def test_address_statuses_are_the_specific_ones() -> None:
    # SMPP.md §11.6: a bad address is answered 0x0A / 0x0B, not a generic error.
    parts = _body_parts(factory.submit_sm())
    bad_source = [*parts[:3], b"1" * 21 + b"\x00", *parts[4:]]
    with pytest.raises(DecodeError) as caught:
        decode(with_header(CommandId.SUBMIT_SM, b"".join(bad_source)))
    assert caught.value.status == S.ESME_RINVSRCADR == 0x0A
    bad_destination = [*parts[:6], b"1" * 30, *parts[7:]]
    for command_id in (CommandId.SUBMIT_SM, CommandId.DELIVER_SM):
        with pytest.raises(DecodeError) as caught:
            decode(with_header(command_id, b"".join(bad_destination)))
        assert caught.value.status == S.ESME_RINVDSTADR == 0x0B


@pytest.mark.parametrize(
    "cls", [cls for cls in PDU_CLASSES if len(cls._layout) > 1], ids=lambda cls: cls.__name__
)
def test_decode_refuses_a_body_that_ends_before_a_field(cls: type[Pdu]) -> None:
    parts = _body_parts(_filled(cls))
    for index, (name, _kind, _size, status) in enumerate(cls._layout):
        if index == 0:
            continue  # an empty body: see test_request_with_empty_body_is_refused
        with pytest.raises(DecodeError) as caught:
            decode(with_header(cls.command_id, b"".join(parts[:index])))
        assert caught.value.status == status, name


@pytest.mark.parametrize("cls", _classes_with(pdu_module.TIME))
def test_decode_refuses_a_time_string_of_the_wrong_length(cls: type[Pdu]) -> None:
    for index, name, _size, status in _fields(cls, pdu_module.TIME):
        parts = _body_parts(_filled(cls))
        wrong_lengths = [b"2" * length + b"\x00" for length in range(1, 16)]
        for bad in (*wrong_lengths, b"240115123000004+0\x00", b"240115123000004+0"):
            parts[index] = bad
            with pytest.raises(DecodeError) as caught:
                decode(with_header(cls.command_id, b"".join(parts)))
            assert caught.value.status == status, name


@pytest.mark.parametrize("command_id", [CommandId.SUBMIT_SM, CommandId.DELIVER_SM])
def test_decode_refuses_short_message_beyond_the_body(command_id: int) -> None:
    parts = _body_parts(factory.submit_sm("Hello"))
    parts[-1] = b"\x06Hello"
    with pytest.raises(DecodeError) as caught:
        decode(with_header(command_id, b"".join(parts)))
    assert caught.value.status == S.ESME_RINVMSGLEN


def test_submit_multi_destination_errors() -> None:
    parts = _body_parts(factory.submit_multi())
    cases = [
        (b"\x01\x03\x01\x01", S.ESME_RINVDESTFLAG),
        (b"\x01\x01\x01\x01" + b"1" * 21 + b"\x00", S.ESME_RINVDSTADR),
        (b"\x01\x02" + b"d" * 21 + b"\x00", S.ESME_RINVDLNAME),
        (b"\x00", S.ESME_RINVNUMDESTS),
        (b"\xff" + b"\x02d\x00" * 255, S.ESME_RINVNUMDESTS),
    ]
    for destinations, status in cases:
        body = b"".join([*parts[:4], destinations, *parts[5:]])
        with pytest.raises(DecodeError) as caught:
            decode(with_header(CommandId.SUBMIT_MULTI, body))
        assert caught.value.status == status, destinations


# -- TLVs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tail", "status"),
    [
        (b"\x02", S.ESME_RINVOPTPARSTREAM),
        (b"\x02\x10", S.ESME_RINVOPTPARSTREAM),
        (b"\x02\x10\x00", S.ESME_RINVOPTPARSTREAM),
        (b"\x02\x10\x00\x02\x34", S.ESME_RINVPARLEN),
        (b"\x02\x10\x00\x01\x34\x00", S.ESME_RINVOPTPARSTREAM),
        (b"\x04\x24\xff\xff", S.ESME_RINVPARLEN),
    ],
)
@pytest.mark.parametrize(
    "pdu",
    [
        factory.deliver_sm(),
        factory.submit_sm(),
        factory.bind_resp(sc_interface_version=None),
        EnquireLink(),
        factory.data_sm(tlvs=()),
    ],
    ids=lambda pdu: type(pdu).__name__,
)
def test_tlv_stream_errors(pdu: Pdu, tail: bytes, status: int) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(sst.with_length_fixed(encode(pdu) + tail))
    assert caught.value.status == status
    assert caught.value.command_id == pdu.command_id


def test_unknown_and_vendor_tlvs_survive_decode_and_encode() -> None:
    tlvs = (
        Tlv(0x1400, b"customer-ref"),
        Tlv(Tag.SAR_MSG_REF_NUM, b"\x00\x2a"),
        Tlv(0x3FFF, b""),
        Tlv(0x8081, b"\x01\x02\x03"),
        Tlv(0x0600, b"\x00" * 7),
        Tlv(Tag.MESSAGE_STATE, b"\x02\x02"),  # wrong length for the standard tag: kept raw
        Tlv(0x1400, b"second"),  # repeated tags keep their order
    )
    for pdu in (factory.deliver_sm(tlvs=tlvs), factory.submit_sm_resp(tlvs=tlvs), EnquireLink()):
        pdu = dataclasses.replace(pdu, tlvs=tlvs)
        wire = encode(pdu)
        decoded = decode(wire)
        assert decoded.tlvs == tlvs
        assert encode(decoded) == wire


# -- responses with no body, unknown commands ----------------------------------------------


@pytest.mark.parametrize("cls", RESPONSE_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("status", [0, S.ESME_RBINDFAIL, S.ESME_RSUBMITFAIL])
def test_response_with_empty_body_decodes(cls: type[Pdu], status: int) -> None:
    pdu = decode(header(16, cls.command_id, status, 42))
    assert type(pdu) is cls
    assert pdu == cls(sequence_number=42, command_status=status)


@pytest.mark.parametrize(
    "cls",
    [cls for cls in REQUEST_CLASSES if cls._layout],
    ids=lambda cls: cls.__name__,
)
def test_request_with_empty_body_is_refused(cls: type[Pdu]) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(header(16, cls.command_id, 0, 42))
    assert caught.value.status == S.ESME_RINVMSGLEN
    assert caught.value.sequence_number == 42


def test_error_bind_resp_still_carrying_system_id_decodes() -> None:
    pdu = decode(with_header(CommandId.BIND_TRANSMITTER_RESP, b"SMSC\x00", S.ESME_RBINDFAIL))
    assert pdu == factory.bind_resp(
        "transmitter", sc_interface_version=None, command_status=S.ESME_RBINDFAIL, sequence_number=1
    )


@given(sst.unknown_command_ids, st.binary(max_size=50), sst.sequence_numbers)
def test_unknown_command_id_gives_unknown_pdu(command_id: int, body: bytes, sequence: int) -> None:
    pdu = decode(with_header(command_id, body, sequence=sequence))
    assert isinstance(pdu, UnknownPdu)
    assert (pdu.unknown_command_id, pdu.body, pdu.sequence_number) == (command_id, body, sequence)


def test_decode_checks_the_header_length() -> None:
    wire = encode(EnquireLink(sequence_number=5))
    for data in (wire[:15], wire + b"\x00", wire[:-1] + b"", header(17, 0x15) + b""):
        with pytest.raises(DecodeError) as caught:
            decode(data)
        assert caught.value.status == S.ESME_RINVCMDLEN


# -- fuzzing -------------------------------------------------------------------------------


def _decode_is_well_behaved(data: bytes) -> None:
    """decode either gives a PDU or raises an SmppError; a PDU re-encodes to the same bytes."""
    try:
        pdu = decode(data)
    except SmppError:
        return
    try:
        again = encode(pdu)
    except LocalProtocolError:
        # Decoding is lenient where encoding is strict (SMPP.md §0), e.g. sm_length 255.
        return
    empty_response = len(data) == 16 and pdu.is_response and bool(pdu._layout)
    if not empty_response:
        assert again == data
    assert decode(again) == pdu


@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_smpp_error(data: bytes) -> None:
    _decode_is_well_behaved(data)


@given(
    st.sampled_from(sorted(CLASS_BY_COMMAND_ID)),
    sst.statuses,
    st.binary(max_size=200),
)
def test_random_bodies_of_known_commands_decode_or_raise_smpp_error(
    command_id: int, status: int, body: bytes
) -> None:
    _decode_is_well_behaved(with_header(command_id, body, status))


@given(sst.mutated_pdus)
def test_mutated_pdus_decode_or_raise_smpp_error(data: bytes) -> None:
    _decode_is_well_behaved(data)


# -- response_to ---------------------------------------------------------------------------


@pytest.mark.parametrize("cls", REQUEST_CLASSES, ids=lambda cls: cls.__name__)
def test_response_to_every_request_class(cls: type[Pdu]) -> None:
    request = dataclasses.replace(_filled(cls), sequence_number=77)
    response = response_to(request, S.ESME_RSYSERR)
    if cls in NO_RESPONSE:
        assert response is None
        return
    assert response is not None
    assert response.command_id == cls.command_id | RESPONSE_BIT
    assert response.sequence_number == 77
    assert response.command_status == S.ESME_RSYSERR
    assert decode(encode(response)) == response


def test_response_to_sets_fields() -> None:
    response = response_to(factory.submit_sm(sequence_number=3), message_id="5F2A01")
    assert response == SubmitSmResp(sequence_number=3, message_id="5F2A01")
    assert response is not None
    assert encode(response) == hexbytes(SUBMIT_SM_RESP)


@pytest.mark.parametrize("cls", RESPONSE_CLASSES, ids=lambda cls: cls.__name__)
def test_responses_are_not_answered(cls: type[Pdu]) -> None:
    assert response_to(cls(sequence_number=1)) is None


def test_unknown_request_is_answered_with_generic_nack() -> None:
    response = response_to(UnknownPdu(sequence_number=9, unknown_command_id=0x22), status=0)
    assert response == GenericNack(sequence_number=9, command_status=S.ESME_RINVCMDID)


# -- constants -----------------------------------------------------------------------------


def test_status_names() -> None:
    assert status_name(0x58) == "ESME_RTHROTTLED"
    assert status_name(0) == "ESME_ROK"
    assert status_name(0x400) == "0x00000400"  # vendor range: no name


def test_every_request_id_has_its_response_id() -> None:
    for command in CommandId:
        if command & RESPONSE_BIT or command in (CommandId.OUTBIND, CommandId.ALERT_NOTIFICATION):
            continue
        assert command | RESPONSE_BIT in set(CommandId), command.name
    assert set(CLASS_BY_COMMAND_ID) == set(CommandId)
