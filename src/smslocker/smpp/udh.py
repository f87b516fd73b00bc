"""The user data header of long messages: parsing it, and splitting a text into
segments that carry it (SMPP.md §7.3, §8).

:mod:`smslocker.smpp.concat` re-exports everything here; the reassembler
lives there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smslocker.smpp.errors import DecodeError, LocalProtocolError
from smslocker.smpp.text import coding_name, encode_text

__all__ = [
    "IEI_CONCAT_8",
    "IEI_CONCAT_16",
    "UDHI",
    "ConcatInfo",
    "InformationElement",
    "SegmentOut",
    "SplitMethod",
    "find_concat",
    "split_message",
    "split_udh",
]

SplitMethod = Literal["udh8", "udh16", "sar", "payload"]

UDHI = 0x40
IEI_CONCAT_8 = 0x00
IEI_CONCAT_16 = 0x08


@dataclass(frozen=True, slots=True)
class InformationElement:
    """One information element of a user data header: IEI and its data."""

    iei: int
    data: bytes


@dataclass(frozen=True, slots=True)
class ConcatInfo:
    """The concatenation IE of a UDH (§8.1), as sent, valid or not."""

    reference: int
    total: int
    seqnum: int
    reference_bits: Literal[8, 16]

    @property
    def is_valid(self) -> bool:
        """3GPP 23.040: a part numbered 0 or above the total is not concatenated."""
        return self.total >= 1 and 1 <= self.seqnum <= self.total


def split_udh(short_message: bytes) -> tuple[list[InformationElement], bytes]:
    """Split user data that starts with a UDH (esm_class & 0x40) into its
    information elements and the rest.

    Unknown IEs are returned like known ones. Raises :class:`DecodeError` if the
    UDHL or an IE length runs past the data.
    """
    if not short_message:
        raise DecodeError("UDHI is set but the user data is empty")
    end = 1 + short_message[0]
    if end > len(short_message):
        raise DecodeError(
            f"UDH length {short_message[0]} overruns {len(short_message)} octets of user data"
        )
    elements: list[InformationElement] = []
    position = 1
    while position < end:
        if position + 2 > end:
            raise DecodeError("UDH ends inside an information element header")
        length = short_message[position + 1]
        start = position + 2
        if start + length > end:
            raise DecodeError("information element overruns the UDH")
        elements.append(
            InformationElement(short_message[position], short_message[start : start + length])
        )
        position = start + length
    return elements, short_message[end:]


def find_concat(elements: list[InformationElement]) -> ConcatInfo | None:
    """The concatenation IE (0x00 or 0x08) among ``elements``, or None.

    A repeated IE: the last one wins (23.040). An IE of the wrong length is ignored.
    """
    found: ConcatInfo | None = None
    for element in elements:
        data = element.data
        if element.iei == IEI_CONCAT_8 and len(data) == 3:
            found = ConcatInfo(data[0], data[1], data[2], 8)
        elif element.iei == IEI_CONCAT_16 and len(data) == 4:
            found = ConcatInfo((data[0] << 8) | data[1], data[2], data[3], 16)
    return found


# --------------------------------------------------------------------- splitting


@dataclass(frozen=True, slots=True)
class SegmentOut:
    """One submit_sm's worth of user data produced by :func:`split_message`.

    Set esm_class bit 0x40 when ``esm_class_udhi``; send ``sar`` as
    (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum) TLVs when present,
    and ``message_payload`` as the TLV of that name (short_message then empty).
    """

    short_message: bytes
    esm_class_udhi: bool = False
    sar: tuple[int, int, int] | None = None
    message_payload: bytes | None = None


# §7.3: user data per segment, in octets of the *unpacked* encoding (one octet
# per GSM septet). SAR segments get the 16-bit-reference sizes because the
# SMSC may well build a 16-bit UDH from the 2-octet sar_msg_ref_num.
_SEGMENT_CAPACITY = {
    "gsm7": {"udh8": 153, "udh16": 152, "sar": 152},
    "ucs2": {"udh8": 134, "udh16": 132, "sar": 132},
    "octet": {"udh8": 134, "udh16": 133, "sar": 133},
}
_SINGLE_CAPACITY = {"gsm7": 160, "ucs2": 140, "octet": 140}
_MULTIBYTE = frozenset({"iso2022jp", "euckr"})


def split_message(
    text: str, method: SplitMethod, reference: int, data_coding: int | None = None
) -> tuple[int, list[SegmentOut]]:
    """Encode ``text`` (see :func:`encode_text` for ``data_coding``) and cut it
    into segments for ``method``; return ``(data_coding, segments)``.

    A text that fits one SMS is one segment without UDH or SAR, except with
    ``"payload"``, which always sends the whole text in message_payload (§8.3).
    Segments never split a GSM escape pair, a UTF-16 surrogate pair or a
    multi-byte character. Raises :class:`LocalProtocolError` for a text that
    needs more than 255 segments, a reference out of range, or text the coding
    cannot carry.
    """
    coding, encoded = encode_text(text, data_coding)
    if method == "payload":
        return coding, [SegmentOut(b"", False, None, encoded)]
    if method not in ("udh8", "udh16", "sar"):
        raise LocalProtocolError(f"unknown split method {method!r}")
    name = coding_name(coding)
    kind = name if name in ("gsm7", "ucs2") else "octet"
    if len(encoded) <= _SINGLE_CAPACITY[kind]:
        return coding, [SegmentOut(encoded)]
    limit = 0xFF if method == "udh8" else 0xFFFF
    if not 0 <= reference <= limit:
        raise LocalProtocolError(f"reference {reference} out of range 0-{limit} for {method}")
    capacity = _SEGMENT_CAPACITY[kind][method]
    if name in _MULTIBYTE:
        chunks = _chunk_characters(text, coding, capacity)
    else:
        chunks = _chunk_octets(encoded, name, capacity)
    total = len(chunks)
    if total > 255:
        raise LocalProtocolError(f"text needs {total} segments; at most 255 are possible")
    segments = []
    for number, chunk in enumerate(chunks, start=1):
        if method == "udh8":
            header = bytes((5, IEI_CONCAT_8, 3, reference, total, number))
            segments.append(SegmentOut(header + chunk, True))
        elif method == "udh16":
            header = bytes((6, IEI_CONCAT_16, 4, reference >> 8, reference & 0xFF, total, number))
            segments.append(SegmentOut(header + chunk, True))
        else:
            segments.append(SegmentOut(chunk, False, (reference, total, number)))
    return coding, segments


def _chunk_octets(encoded: bytes, name: str, capacity: int) -> list[bytes]:
    chunks = []
    start = 0
    while start < len(encoded):
        end = min(start + capacity, len(encoded))
        if end < len(encoded):
            # §7.2: never split an escape pair or a surrogate pair. Our encoder
            # only emits 0x1B as an escape prefix, and a UCS2 high surrogate is
            # a code unit whose first octet is 0xD8-0xDB.
            if name == "gsm7" and encoded[end - 1] == 0x1B:
                end -= 1
            elif name == "ucs2" and 0xD8 <= encoded[end - 2] <= 0xDB:
                end -= 2
        chunks.append(encoded[start:end])
        start = end
    return chunks


def _chunk_characters(text: str, coding: int, capacity: int) -> list[bytes]:
    # Multi-byte codings: grow each chunk a character at a time and re-encode,
    # because ISO-2022-JP's escape sequences make lengths non-additive. Only the
    # simulator and tests split such texts, so simplicity beats speed here.
    chunks = []
    current = ""
    encoded = b""
    for char in text:
        candidate = encode_text(current + char, coding)[1]
        if len(candidate) > capacity and current:
            chunks.append(encoded)
            current = char
            encoded = encode_text(char, coding)[1]
        else:
            current += char
            encoded = candidate
    if current:
        chunks.append(encoded)
    return chunks
