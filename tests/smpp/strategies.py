"""Hypothesis strategies for SMPP PDUs, built from each class's ``_layout``.

The layout is the codec's own description of the wire order, so a strategy
derived from it covers every field of every PDU class, including classes added
later, without a second hand-written list that could drift.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from smslocker.smpp import pdu as pdu_module
from smslocker.smpp.codec import encode
from smslocker.smpp.constants import VENDOR_TAG_RANGE, Tag
from smslocker.smpp.pdu import (
    CLASS_BY_COMMAND_ID,
    PDU_CLASSES,
    DestAddress,
    DistributionList,
    Pdu,
    Tlv,
    UnknownPdu,
    UnsuccessfulDelivery,
)

# -- scalars -------------------------------------------------------------------

#: Latin-1 without NUL: every character is one octet on the wire (pdu.py decodes Latin-1).
LATIN1_NO_NUL = st.characters(min_codepoint=1, max_codepoint=0xFF)

sequence_numbers = st.integers(min_value=0, max_value=0xFFFFFFFF)
request_sequence_numbers = st.integers(min_value=1, max_value=0x7FFFFFFF)
statuses = st.one_of(
    st.sampled_from([0x00, 0x01, 0x03, 0x04, 0x0A, 0x0B, 0x0D, 0x45, 0x58, 0x64, 0xC0, 0xFF]),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
)


def cstrings(size: int) -> st.SearchStrategy[str]:
    """Values of a C-Octet String field of maximum ``size`` octets (NUL included)."""
    return st.text(alphabet=LATIN1_NO_NUL, max_size=size - 1)


def _two_digits(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(min_value=low, max_value=high).map(lambda n: f"{n:02d}")


@st.composite
def absolute_times(draw: st.DrawFn) -> str:
    """``YYMMDDhhmmsstnnp`` with p = '+' or '-' (SMPP.md §10)."""
    parts = [
        draw(_two_digits(0, 99)),
        draw(_two_digits(1, 12)),
        draw(_two_digits(1, 28)),
        draw(_two_digits(0, 23)),
        draw(_two_digits(0, 59)),
        draw(_two_digits(0, 59)),
        str(draw(st.integers(min_value=0, max_value=9))),
        draw(_two_digits(0, 48)),
        draw(st.sampled_from("+-")),
    ]
    return "".join(parts)


@st.composite
def relative_times(draw: st.DrawFn) -> str:
    """``YYMMDDhhmmss000R``: an interval from now (SMPP.md §10)."""
    return "".join(draw(_two_digits(0, 99)) for _ in range(6)) + "000R"


time_strings = st.one_of(st.just(""), absolute_times(), relative_times())

# -- TLVs ----------------------------------------------------------------------

tlv_tags = st.one_of(
    st.sampled_from(list(Tag)).map(int),
    st.integers(min_value=VENDOR_TAG_RANGE.start, max_value=VENDOR_TAG_RANGE.stop - 1),
    st.integers(min_value=0, max_value=0xFFFF),
)
# Any value, whatever the tag's standard length: the codec keeps TLVs raw.
tlvs = st.builds(Tlv, tlv_tags, st.binary(max_size=300))
tlv_tuples = st.lists(tlvs, max_size=5).map(tuple)

# -- submit_multi parts --------------------------------------------------------

octet = st.integers(min_value=0, max_value=0xFF)
destinations = st.one_of(
    st.builds(DestAddress, cstrings(21), octet, octet),
    st.builds(DistributionList, cstrings(21)),
)
unsuccessful_deliveries = st.builds(
    UnsuccessfulDelivery, cstrings(21), st.integers(min_value=0, max_value=0xFFFFFFFF), octet, octet
)


def field_strategy(kind: int, size: int) -> st.SearchStrategy[Any]:
    """Values a layout field of ``kind`` (and ``size``) can take and still encode."""
    if kind == pdu_module.U8:
        return octet
    if kind == pdu_module.U16:
        return st.integers(min_value=0, max_value=0xFFFF)
    if kind == pdu_module.U32:
        return st.integers(min_value=0, max_value=0xFFFFFFFF)
    if kind == pdu_module.CSTR:
        return cstrings(size)
    if kind == pdu_module.TIME:
        return time_strings
    if kind == pdu_module.SM:
        return st.binary(max_size=size)
    if kind == pdu_module.DESTS:
        return st.lists(destinations, min_size=1, max_size=size).map(tuple)
    if kind == pdu_module.UNSUCCESS:
        return st.lists(unsuccessful_deliveries, max_size=size).map(tuple)
    raise AssertionError(f"no strategy for field kind {kind}")


# -- PDUs ----------------------------------------------------------------------


def pdus_of(cls: type[Pdu]) -> st.SearchStrategy[Pdu]:
    """Any PDU of class ``cls`` that encodes: every layout field, TLVs, sequence and status."""
    fields = {name: field_strategy(kind, size) for name, kind, size, _status in cls._layout}
    return st.builds(
        cls,
        sequence_number=sequence_numbers,
        command_status=statuses,
        tlvs=tlv_tuples,
        **fields,
    )


unknown_command_ids = st.one_of(
    # Unused ids inside the 3.4 space, the 3.3-only and 5.0 ones, vendor ids, anything.
    st.sampled_from([0x0A, 0x22, 0x23, 0x24, 0x111, 0x80000022, 0x00010200, 0x01000001]),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
).filter(lambda command_id: command_id not in CLASS_BY_COMMAND_ID)

unknown_pdus = st.builds(
    UnknownPdu,
    sequence_number=sequence_numbers,
    command_status=statuses,
    unknown_command_id=unknown_command_ids,
    body=st.binary(max_size=200),
)

known_pdus = st.one_of([pdus_of(cls) for cls in PDU_CLASSES])
any_pdus = st.one_of(known_pdus, unknown_pdus)

# -- bytes ---------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few octets overwritten, inserted or removed, or cut short."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        operation = draw(st.sampled_from(["overwrite", "insert", "delete", "truncate"]))
        position = draw(st.integers(min_value=0, max_value=len(buffer)))
        if operation == "overwrite" and position < len(buffer):
            # NUL and the extremes break C-strings and lengths most often.
            buffer[position] = draw(st.one_of(st.sampled_from([0x00, 0xFF, 0x01, 0x7F]), octet))
        elif operation == "insert":
            buffer[position:position] = draw(st.binary(min_size=1, max_size=3))
        elif operation == "delete" and position < len(buffer):
            del buffer[position : position + draw(st.integers(min_value=1, max_value=3))]
        elif operation == "truncate":
            del buffer[position:]
    return bytes(buffer)


def with_length_fixed(data: bytes) -> bytes:
    """``data`` with command_length rewritten to its real length (when it has a header)."""
    if len(data) < 16:
        return data
    return len(data).to_bytes(4, "big") + data[4:]


encoded_pdus = any_pdus.map(encode)
#: Valid PDUs with a few octets damaged; half of them keep a consistent command_length so
#: that the damage reaches the body decoder rather than the length check.
mutated_pdus = encoded_pdus.flatmap(mutated).flatmap(
    lambda data: st.sampled_from([data, with_length_fixed(data)])
)
