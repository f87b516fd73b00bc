"""Typed access to the raw TLVs a PDU carries (SMPP.md §4).

PDUs keep TLVs as raw ``Tlv(tag, value)`` pairs, so a decode never fails on a
tag we do not know. These helpers read and build the standard ones by their
declared kind; reading a standard tag whose length is wrong raises
:class:`DecodeError` with ESME_RINVPARLEN, which the caller can answer with.
"""

from __future__ import annotations

from collections.abc import Iterable

from .constants import TLV_SPECS, TlvKind
from .constants import CommandStatus as S
from .errors import DecodeError, LocalProtocolError
from .pdu import Tlv


def find(tlvs: Iterable[Tlv], tag: int) -> bytes | None:
    """The raw value of the first TLV with ``tag``, or None."""
    for tlv in tlvs:
        if tlv.tag == tag:
            return tlv.value
    return None


def get_int(tlvs: Iterable[Tlv], tag: int) -> int | None:
    """An integer TLV's value, checked against its standard length."""
    value = find(tlvs, tag)
    if value is None:
        return None
    spec = TLV_SPECS.get(tag)
    if spec is not None and spec[0] is TlvKind.INT and len(value) not in spec[1]:
        raise DecodeError(
            f"TLV 0x{tag:04X}: {len(value)} octets, expected {spec[1]}", status=S.ESME_RINVPARLEN
        )
    if not value:
        raise DecodeError(f"TLV 0x{tag:04X}: empty integer", status=S.ESME_RINVPARLEN)
    return int.from_bytes(value, "big")


def get_str(tlvs: Iterable[Tlv], tag: int) -> str | None:
    """A C-string TLV's value without its NUL (tolerating a missing NUL, as some SMSCs send)."""
    value = find(tlvs, tag)
    if value is None:
        return None
    nul = value.find(b"\x00")
    return (value if nul < 0 else value[:nul]).decode("latin-1")


def has(tlvs: Iterable[Tlv], tag: int) -> bool:
    return find(tlvs, tag) is not None


def make_int(tag: int, value: int, width: int | None = None) -> Tlv:
    """An integer TLV; ``width`` defaults to the tag's standard length."""
    if width is None:
        spec = TLV_SPECS.get(tag)
        if spec is None or spec[0] is not TlvKind.INT:
            raise LocalProtocolError(f"TLV 0x{tag:04X}: give the width of a non-standard integer")
        width = spec[1][-1]
    if not 0 <= value < 1 << (8 * width):
        raise LocalProtocolError(f"TLV 0x{tag:04X}: {value} does not fit in {width} octet(s)")
    return Tlv(tag, value.to_bytes(width, "big"))


def make_str(tag: int, value: str) -> Tlv:
    """A C-string TLV (the NUL is added and counted in the length)."""
    # Same rules as a mandatory C-string (pdu.py): one octet per character and no NUL
    # inside, which get_str() would cut at; raised as LocalProtocolError, not UnicodeError.
    try:
        raw = value.encode("latin-1") + b"\x00"
    except UnicodeEncodeError as error:
        raise LocalProtocolError(
            f"TLV 0x{tag:04X}: {value!r} is not a single-octet string"
        ) from error
    if b"\x00" in raw[:-1]:
        raise LocalProtocolError(f"TLV 0x{tag:04X}: contains a NUL octet")
    spec = TLV_SPECS.get(tag)
    if spec is not None and spec[0] is TlvKind.CSTRING and len(raw) > spec[1][0]:
        raise LocalProtocolError(f"TLV 0x{tag:04X}: at most {spec[1][0] - 1} characters")
    return Tlv(tag, raw)


def make_octets(tag: int, value: bytes) -> Tlv:
    return Tlv(tag, bytes(value))
