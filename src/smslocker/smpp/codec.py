"""The byte codec of SMPP 3.4 PDUs (SMPP.md §1-§4): :func:`encode` and :func:`decode`.

One generic encoder and decoder walk each PDU class's ``_layout`` (:mod:`.pdu`); the
hot deliver_sm has a decoder of its own (:func:`decode_deliver_sm`). Strings are
decoded as Latin-1, so a peer's non-ASCII octets never make us raise, and
``decode(encode(p)) == p`` holds for anything that encodes.
"""

from __future__ import annotations

import struct
from typing import Final, TypeVar

from .constants import RESPONSE_BIT, CommandId
from .constants import CommandStatus as S
from .errors import DecodeError, LocalProtocolError
from .pdu import (
    CLASS_BY_COMMAND_ID,
    CSTR,
    DESTS,
    SM,
    TIME,
    U8,
    U16,
    U32,
    UNSUCCESS,
    DeliverSm,
    DestAddress,
    DistributionList,
    Pdu,
    Tlv,
    UnknownPdu,
    UnsuccessfulDelivery,
)

_HEADER = struct.Struct(">IIII")
_TLV_HEADER = struct.Struct(">HH")

PduT = TypeVar("PduT", bound=Pdu)


# ---------------------------------------------------------------------------
# Encoding


def _encode_cstring(name: str, value: str, size: int) -> bytes:
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError as error:
        raise LocalProtocolError(f"{name}: {value!r} is not a single-octet string") from error
    if b"\x00" in raw:
        raise LocalProtocolError(f"{name}: contains a NUL octet")
    if len(raw) + 1 > size:
        raise LocalProtocolError(f"{name}: {len(raw)} octets, at most {size - 1} allowed")
    return raw + b"\x00"


def _encode_int(name: str, value: int, kind: int) -> bytes:
    width = {U8: 1, U16: 2, U32: 4}[kind]
    if not 0 <= value < 1 << (8 * width):
        raise LocalProtocolError(f"{name}: {value} does not fit in {width} octet(s)")
    return value.to_bytes(width, "big")


def _encode_field(pdu: Pdu, name: str, kind: int, size: int) -> bytes:
    value = getattr(pdu, name)
    if kind in (U8, U16, U32):
        return _encode_int(name, value, kind)
    if kind == CSTR:
        return _encode_cstring(name, value, size)
    if kind == TIME:
        if len(value) not in (0, 16):
            raise LocalProtocolError(f"{name}: a time string has 0 or 16 characters, not {value!r}")
        return _encode_cstring(name, value, size)
    if kind == SM:
        if len(value) > size:
            raise LocalProtocolError(f"{name}: {len(value)} octets, at most {size} allowed")
        return bytes((len(value),)) + bytes(value)  # bytes(): value is Any to mypy
    if kind == DESTS:
        return _encode_destinations(value, size)
    if kind == UNSUCCESS:
        return _encode_unsuccessful(value, size)
    raise AssertionError(kind)  # pragma: no cover - layouts are static


def _encode_destinations(
    destinations: tuple[DestAddress | DistributionList, ...], limit: int
) -> bytes:
    if not 1 <= len(destinations) <= limit:
        raise LocalProtocolError(f"destinations: between 1 and {limit}, not {len(destinations)}")
    parts = [bytes((len(destinations),))]
    for destination in destinations:
        if isinstance(destination, DestAddress):
            # Range-checked like any other integer: bytes((ton, npi)) would raise a bare
            # ValueError, not the LocalProtocolError encode() promises.
            parts.append(b"\x01" + _encode_int("dest_addr_ton", destination.ton, U8))
            parts.append(_encode_int("dest_addr_npi", destination.npi, U8))
            parts.append(_encode_cstring("destination_addr", destination.address, 21))
        else:
            parts.append(b"\x02" + _encode_cstring("dl_name", destination.name, 21))
    return b"".join(parts)


def _encode_unsuccessful(entries: tuple[UnsuccessfulDelivery, ...], limit: int) -> bytes:
    if len(entries) > limit:
        raise LocalProtocolError(f"unsuccessful: at most {limit} entries")
    parts = [bytes((len(entries),))]
    for entry in entries:
        parts.append(_encode_int("dest_addr_ton", entry.ton, U8))  # not bytes(): see above
        parts.append(_encode_int("dest_addr_npi", entry.npi, U8))
        parts.append(_encode_cstring("destination_addr", entry.address, 21))
        parts.append(_encode_int("error_status_code", entry.error_status_code, U32))
    return b"".join(parts)


def encode_tlvs(tlvs: tuple[Tlv, ...]) -> bytes:
    parts = []
    for tlv in tlvs:
        if not 0 <= tlv.tag <= 0xFFFF or len(tlv.value) > 0xFFFF:
            raise LocalProtocolError(f"TLV 0x{tlv.tag:04X}: tag or length out of range")
        parts.append(_TLV_HEADER.pack(tlv.tag, len(tlv.value)))
        parts.append(tlv.value)
    return b"".join(parts)


def encode(pdu: Pdu) -> bytes:
    """The PDU's bytes on the wire, header included.

    Raises :class:`LocalProtocolError` for a value SMPP cannot carry (a string
    over its maximum, an integer out of range, a sequence number out of range).
    """
    sequence_number = pdu.sequence_number
    if not 0 <= sequence_number <= 0xFFFFFFFF:
        raise LocalProtocolError(f"sequence_number {sequence_number} out of range")
    if isinstance(pdu, UnknownPdu):
        command_id = pdu.unknown_command_id
        if not 0 <= command_id <= 0xFFFFFFFF:
            # Otherwise struct.error escapes from the header pack below.
            raise LocalProtocolError(f"command_id {command_id} out of range")
        body = pdu.body
    else:
        command_id = pdu.command_id
        body = b"".join(
            _encode_field(pdu, name, kind, size) for name, kind, size, _status in pdu._layout
        )
        if pdu.tlvs:
            body += encode_tlvs(pdu.tlvs)
    if not 0 <= pdu.command_status <= 0xFFFFFFFF:
        raise LocalProtocolError(f"command_status {pdu.command_status} out of range")
    return _HEADER.pack(16 + len(body), command_id, pdu.command_status, sequence_number) + body


# ---------------------------------------------------------------------------
# Decoding


def decode_tlvs(
    body: bytes, position: int, command_id: int, sequence_number: int
) -> tuple[Tlv, ...]:
    """TLVs from ``body[position:]``; unknown tags are kept (SMPP.md §4)."""
    tlvs = []
    end = len(body)
    while end - position >= 4:
        tag, length = _TLV_HEADER.unpack_from(body, position)
        position += 4
        if position + length > end:
            raise DecodeError(
                f"TLV 0x{tag:04X} claims {length} octets, {end - position} remain",
                status=S.ESME_RINVPARLEN,
                command_id=command_id,
                sequence_number=sequence_number,
            )
        tlvs.append(Tlv(tag, body[position : position + length]))
        position += length
    if position != end:
        raise DecodeError(
            f"{end - position} stray octet(s) after the last TLV",
            status=S.ESME_RINVOPTPARSTREAM,
            command_id=command_id,
            sequence_number=sequence_number,
        )
    return tuple(tlvs)


class _Reader:
    """A cursor over one PDU body that raises DecodeError with the right status."""

    __slots__ = ("body", "command_id", "position", "sequence_number")

    def __init__(self, body: bytes, command_id: int, sequence_number: int) -> None:
        self.body = body
        self.position = 0
        self.command_id = command_id
        self.sequence_number = sequence_number

    def fail(self, message: str, status: int) -> DecodeError:
        return DecodeError(
            message,
            status=status,
            command_id=self.command_id,
            sequence_number=self.sequence_number,
        )

    def integer(self, name: str, width: int, status: int) -> int:
        start = self.position
        end = start + width
        if end > len(self.body):
            raise self.fail(f"{name}: body ends inside the field", status)
        self.position = end
        return int.from_bytes(self.body[start:end], "big")

    def cstring(self, name: str, size: int, status: int) -> str:
        start = self.position
        nul = self.body.find(b"\x00", start, start + size)
        if nul < 0:
            if self.body.find(b"\x00", start) < 0:
                raise self.fail(f"{name}: no NUL terminator", status)
            raise self.fail(f"{name}: longer than {size - 1} octets", status)
        self.position = nul + 1
        return self.body[start:nul].decode("latin-1")

    def octets(self, name: str, length: int, status: int) -> bytes:
        start = self.position
        end = start + length
        if end > len(self.body):
            raise self.fail(
                f"{name}: {length} octets announced, {len(self.body) - start} left", status
            )
        self.position = end
        return self.body[start:end]


def _decode_field(reader: _Reader, name: str, kind: int, size: int, status: int) -> object:
    if kind == U8:
        return reader.integer(name, 1, status)
    if kind == CSTR:
        return reader.cstring(name, size, status)
    if kind == TIME:
        value = reader.cstring(name, size, status)
        if len(value) not in (0, 16):
            raise reader.fail(f"{name}: {value!r} is not a 16-character time string", status)
        return value
    if kind == SM:
        length = reader.integer("sm_length", 1, status)
        return reader.octets(name, length, status)
    if kind == U16:
        return reader.integer(name, 2, status)
    if kind == U32:
        return reader.integer(name, 4, status)
    if kind == DESTS:
        return _decode_destinations(reader, status, size)
    if kind == UNSUCCESS:
        return _decode_unsuccessful(reader, status)
    raise AssertionError(kind)  # pragma: no cover - layouts are static


def _decode_destinations(
    reader: _Reader, status: int, limit: int
) -> tuple[DestAddress | DistributionList, ...]:
    count = reader.integer("number_of_dests", 1, status)
    if not 1 <= count <= limit:
        # The encoder refuses these counts too (SMPP.md §3.10: 1..254); accepting them would
        # hand the application a submit_multi that cannot be answered or re-encoded.
        raise reader.fail(f"number_of_dests {count} outside 1..{limit}", status)
    destinations: list[DestAddress | DistributionList] = []
    for _ in range(count):
        flag = reader.integer("dest_flag", 1, S.ESME_RINVDESTFLAG)
        if flag == 1:
            ton = reader.integer("dest_addr_ton", 1, S.ESME_RINVDSTTON)
            npi = reader.integer("dest_addr_npi", 1, S.ESME_RINVDSTNPI)
            address = reader.cstring("destination_addr", 21, S.ESME_RINVDSTADR)
            destinations.append(DestAddress(address, ton, npi))
        elif flag == 2:
            destinations.append(DistributionList(reader.cstring("dl_name", 21, S.ESME_RINVDLNAME)))
        else:
            raise reader.fail(f"dest_flag {flag} is neither 1 nor 2", S.ESME_RINVDESTFLAG)
    return tuple(destinations)


def _decode_unsuccessful(reader: _Reader, status: int) -> tuple[UnsuccessfulDelivery, ...]:
    count = reader.integer("no_unsuccess", 1, status)
    entries = []
    for _ in range(count):
        ton = reader.integer("dest_addr_ton", 1, status)
        npi = reader.integer("dest_addr_npi", 1, status)
        address = reader.cstring("destination_addr", 21, status)
        error = reader.integer("error_status_code", 4, status)
        entries.append(UnsuccessfulDelivery(address, error, ton, npi))
    return tuple(entries)


_new = object.__new__
_set = object.__setattr__

# deliver_sm from esm_class to sm_length when both time strings are NULL: esm_class,
# protocol_id, priority_flag, schedule_delivery_time, validity_period, registered_delivery,
# replace_if_present_flag, data_coding, sm_default_msg_id, sm_length (SMPP.md §3.5).
_DELIVER_SM_TAIL = struct.Struct(">10B")
_DELIVER_SM_ID: Final = int(CommandId.DELIVER_SM)


def decode_body(command_id: int, command_status: int, sequence_number: int, body: bytes) -> Pdu:
    """Decode one PDU from its header fields and body.

    Raises :class:`DecodeError` (with the status to answer with) when a known
    PDU's body is malformed. An unknown command_id is not an error: it gives
    :class:`UnknownPdu`.
    """
    if command_id == _DELIVER_SM_ID:
        return decode_deliver_sm(command_status, sequence_number, body)
    cls = CLASS_BY_COMMAND_ID.get(command_id)
    if cls is None:
        return UnknownPdu(
            sequence_number=sequence_number,
            command_status=command_status,
            unknown_command_id=command_id,
            body=body,
        )
    return _decode_layout(cls, command_id, command_status, sequence_number, body)


def _decode_layout(
    cls: type[PduT], command_id: int, command_status: int, sequence_number: int, body: bytes
) -> PduT:
    """The generic decoder: walk ``cls._layout``, then the TLVs."""
    values: dict[str, object] = {}
    layout = cls._layout
    # A response with an error status may omit its body (SMPP.md §3.2, §3.6); some
    # implementations omit it on success too, so an empty body is accepted for any response.
    if layout and body:
        reader = _Reader(body, command_id, sequence_number)
        for name, kind, size, status in layout:
            values[name] = _decode_field(reader, name, kind, size, status)
        position = reader.position
    elif layout and not command_id & RESPONSE_BIT:
        raise DecodeError(
            f"{cls.__name__}: empty body",
            status=S.ESME_RINVMSGLEN,
            command_id=command_id,
            sequence_number=sequence_number,
        )
    else:
        position = 0
    tlvs = decode_tlvs(body, position, command_id, sequence_number) if position < len(body) else ()
    return cls(
        sequence_number=sequence_number,
        command_status=command_status,
        tlvs=tlvs,
        **values,
    )


def decode_deliver_sm(command_status: int, sequence_number: int, body: bytes) -> DeliverSm:
    """``decode_body(DELIVER_SM, ...)``, unrolled: the one PDU on the hot path.

    A receiver decodes hundreds of thousands of these a second, and the generic
    walk of ``DeliverSm._layout`` costs several times what this does.  The
    result and every error are the generic walk's: anything unusual (a time
    string present, a field too long, a short body, an empty one) is handed to
    it, so that it names the faulty field and its status.  The test suite
    checks that both agree on arbitrary, near-valid and mutated bodies.

    The instance is made without the frozen ``__init__``, which sets each of
    the 20 fields through ``object.__setattr__`` (more than all the rest of the
    decoding): its ``__dict__`` is set in one step.  It holds the ten fields
    that a receiver reads on every message or that are seldom at their
    default, plus any other that differs from its default; a field left out
    (service_type, protocol_id, the NULL time strings, no TLVs, ...) reads
    its default from the class, where the dataclass keeps it.  Equality,
    hashing, ``repr``, pickling and ``dataclasses.replace`` all go through
    attribute access, so the PDU behaves as any other.  (A dictionary entry
    costs about what one read from the class does, and ten entries still fit
    a 16-slot dictionary.)
    """
    try:
        # bytes.index bounded by the field's maximum (NUL included): ValueError when the
        # NUL is missing or too far, like the generic reader's checks. service_type is
        # nearly always empty, which one octet tells more cheaply than a search.
        e1 = 0 if body[0] == 0 else body.index(0, 0, 6)  # service_type C(6)
        e2 = body.index(0, e1 + 3, e1 + 24)  # source_addr C(21), after its TON and NPI
        e3 = body.index(0, e2 + 3, e2 + 24)  # destination_addr C(21), after its TON and NPI
        (
            esm_class,
            protocol_id,
            priority_flag,
            schedule_delivery_time,
            validity_period,
            registered_delivery,
            replace_if_present_flag,
            data_coding,
            sm_default_msg_id,
            sm_length,
        ) = _DELIVER_SM_TAIL.unpack_from(body, e3 + 1)
    except (IndexError, ValueError, struct.error):
        return _decode_layout(DeliverSm, _DELIVER_SM_ID, command_status, sequence_number, body)
    sm_end = e3 + 11 + sm_length
    end = len(body)
    if schedule_delivery_time or validity_period or sm_end > end:
        return _decode_layout(DeliverSm, _DELIVER_SM_ID, command_status, sequence_number, body)
    values: dict[str, object] = {
        "sequence_number": sequence_number,
        "source_addr_ton": body[e1 + 1],
        "source_addr_npi": body[e1 + 2],
        "source_addr": body[e1 + 3 : e2].decode("latin-1"),
        "dest_addr_ton": body[e2 + 1],
        "dest_addr_npi": body[e2 + 2],
        "destination_addr": body[e2 + 3 : e3].decode("latin-1"),
        "esm_class": esm_class,
        "data_coding": data_coding,
        "short_message": body[e3 + 11 : sm_end],
    }
    # The rest only when not at their default (see the docstring).
    if sm_end < end:
        values["tlvs"] = decode_tlvs(body, sm_end, _DELIVER_SM_ID, sequence_number)
    if command_status:
        values["command_status"] = command_status
    if e1:
        values["service_type"] = body[:e1].decode("latin-1")
    if protocol_id:
        values["protocol_id"] = protocol_id
    if priority_flag:
        values["priority_flag"] = priority_flag
    if registered_delivery:
        values["registered_delivery"] = registered_delivery
    if replace_if_present_flag:
        values["replace_if_present_flag"] = replace_if_present_flag
    if sm_default_msg_id:
        values["sm_default_msg_id"] = sm_default_msg_id
    pdu: DeliverSm = _new(DeliverSm)
    _set(pdu, "__dict__", values)
    return pdu


def decode(data: bytes) -> Pdu:
    """Decode one whole PDU (header included); the length must match exactly."""
    if len(data) < 16:
        raise DecodeError(
            f"{len(data)} octets is shorter than a PDU header", status=S.ESME_RINVCMDLEN
        )
    command_length, command_id, command_status, sequence_number = _HEADER.unpack_from(data)
    if command_length != len(data):
        raise DecodeError(
            f"command_length {command_length} but {len(data)} octets given",
            status=S.ESME_RINVCMDLEN,
            command_id=command_id,
            sequence_number=sequence_number,
        )
    return decode_body(command_id, command_status, sequence_number, bytes(data[16:]))
