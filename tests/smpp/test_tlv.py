"""Typed access to raw TLVs (smslocker.smpp.tlv)."""

from __future__ import annotations

import pytest
import strategies as sst
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp import tlv
from smslocker.smpp.constants import TLV_SPECS, Tag, TlvKind
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.errors import DecodeError, LocalProtocolError
from smslocker.smpp.pdu import Tlv

INT_TAGS = sorted(tag for tag, (kind, _) in TLV_SPECS.items() if kind is TlvKind.INT)
CSTRING_TAGS = sorted(tag for tag, (kind, _) in TLV_SPECS.items() if kind is TlvKind.CSTRING)


def test_find_returns_the_first_value() -> None:
    tlvs = (Tlv(0x1400, b"a"), Tlv(Tag.MESSAGE_STATE, b"\x02"), Tlv(0x1400, b"b"))
    assert tlv.find(tlvs, 0x1400) == b"a"
    assert tlv.find(tlvs, Tag.MESSAGE_STATE) == b"\x02"
    assert tlv.find(tlvs, 0x1401) is None
    assert tlv.has(tlvs, 0x1400)
    assert not tlv.has(tlvs, 0x1401)
    assert tlv.has((Tlv(Tag.ALERT_ON_MESSAGE_DELIVERY, b""),), Tag.ALERT_ON_MESSAGE_DELIVERY)


@pytest.mark.parametrize("tag", INT_TAGS, ids=lambda tag: Tag(tag).name)
def test_integer_tlvs_round_trip_at_every_allowed_width(tag: int) -> None:
    for width in TLV_SPECS[tag][1]:
        largest = (1 << (8 * width)) - 1
        made = tlv.make_int(tag, largest, width)
        assert made == Tlv(tag, b"\xff" * width)
        assert tlv.get_int((made,), tag) == largest
    assert len(tlv.make_int(tag, 1).value) == TLV_SPECS[tag][1][-1]


@pytest.mark.parametrize("tag", INT_TAGS, ids=lambda tag: Tag(tag).name)
def test_integer_tlv_of_a_wrong_length_is_refused(tag: int) -> None:
    allowed = TLV_SPECS[tag][1]
    for length in range(6):
        if length in allowed:
            continue
        with pytest.raises(DecodeError) as caught:
            tlv.get_int((Tlv(tag, b"\x01" * length),), tag)
        assert caught.value.status == S.ESME_RINVPARLEN


def test_source_telematics_id_accepts_one_or_two_octets() -> None:
    # Implementations disagree (SMPP.md §4.1): decode by the length field.
    assert tlv.get_int((Tlv(Tag.SOURCE_TELEMATICS_ID, b"\x07"),), Tag.SOURCE_TELEMATICS_ID) == 7
    assert tlv.get_int((Tlv(Tag.SOURCE_TELEMATICS_ID, b"\x01\x02"),), 0x0010) == 0x0102


@given(st.integers(min_value=0x1400, max_value=0x3FFF), st.binary(min_size=1, max_size=8))
def test_vendor_integer_of_any_length(tag: int, value: bytes) -> None:
    assert tlv.get_int((Tlv(tag, value),), tag) == int.from_bytes(value, "big")


def test_empty_integer_is_refused() -> None:
    with pytest.raises(DecodeError) as caught:
        tlv.get_int((Tlv(0x1400, b""),), 0x1400)
    assert caught.value.status == S.ESME_RINVPARLEN
    assert tlv.get_int((), 0x1400) is None


def test_make_int_refuses_what_does_not_fit() -> None:
    with pytest.raises(LocalProtocolError):
        tlv.make_int(Tag.MESSAGE_STATE, 256)
    with pytest.raises(LocalProtocolError):
        tlv.make_int(Tag.SAR_MSG_REF_NUM, -1)
    with pytest.raises(LocalProtocolError, match="width"):
        tlv.make_int(0x1400, 1)  # a vendor tag has no standard width
    with pytest.raises(LocalProtocolError, match="width"):
        tlv.make_int(Tag.RECEIPTED_MESSAGE_ID, 1)  # not an integer tag
    assert tlv.make_int(0x1400, 0x0102, 3) == Tlv(0x1400, b"\x00\x01\x02")


@given(st.sampled_from([*CSTRING_TAGS, 0x1400, 0x3FFF]), st.data())
def test_strings_round_trip(tag: int, data: st.DataObject) -> None:
    limit = TLV_SPECS[tag][1][0] if tag in TLV_SPECS else 300
    text = data.draw(sst.cstrings(limit))
    made = tlv.make_str(tag, text)
    assert made.value == text.encode("latin-1") + b"\x00"
    assert tlv.get_str((made,), tag) == text


@pytest.mark.parametrize("tag", CSTRING_TAGS, ids=lambda tag: Tag(tag).name)
def test_make_str_refuses_a_string_over_the_maximum(tag: int) -> None:
    limit = TLV_SPECS[tag][1][0]
    assert len(tlv.make_str(tag, "x" * (limit - 1)).value) == limit
    with pytest.raises(LocalProtocolError):
        tlv.make_str(tag, "x" * limit)


@pytest.mark.parametrize("text", ["😀", "Ω", "a\x00b"])
def test_make_str_refuses_what_a_c_string_cannot_carry(text: str) -> None:
    with pytest.raises(LocalProtocolError):
        tlv.make_str(Tag.RECEIPTED_MESSAGE_ID, text)


def test_get_str_tolerates_a_missing_nul() -> None:
    # Some SMSCs send receipted_message_id without its terminator.
    tlvs = (Tlv(Tag.RECEIPTED_MESSAGE_ID, b"5F2A01"),)
    assert tlv.get_str(tlvs, Tag.RECEIPTED_MESSAGE_ID) == "5F2A01"
    assert tlv.get_str((Tlv(Tag.RECEIPTED_MESSAGE_ID, b"ab\x00cd"),), 0x001E) == "ab"
    assert tlv.get_str((), Tag.RECEIPTED_MESSAGE_ID) is None


def test_make_octets() -> None:
    made = tlv.make_octets(Tag.MESSAGE_PAYLOAD, bytearray(b"\x00\xff"))
    assert made == Tlv(Tag.MESSAGE_PAYLOAD, b"\x00\xff")
    assert type(made.value) is bytes


def test_specs_cover_every_standard_tag() -> None:
    assert set(TLV_SPECS) == set(Tag)
    for tag, (kind, lengths) in TLV_SPECS.items():
        assert lengths, Tag(tag).name
        if kind is TlvKind.INT:
            assert set(lengths) <= {1, 2, 4}, Tag(tag).name
    assert TLV_SPECS[Tag.SC_INTERFACE_VERSION] == (TlvKind.INT, (1,))
    assert TLV_SPECS[Tag.RECEIPTED_MESSAGE_ID] == (TlvKind.CSTRING, (65,))
