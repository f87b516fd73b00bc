"""The compact form of an ordinary deliver_sm: a tuple, for receivers at full speed.

Theory of operation: nearly every deliver_sm an SMSC sends has no TLVs and
leaves service_type, protocol_id, priority_flag, both time strings,
registered_delivery, replace_if_present_flag and sm_default_msg_id at their
default. Everything such a PDU says fits in a :data:`DeliverSmRecord`:

    (sequence_number, source_addr_ton, source_addr_npi, source_addr,
     dest_addr_ton, dest_addr_npi, destination_addr, esm_class, data_coding,
     short_message)

A session asked for records (``SessionConfig.deliver_sm_records``) reports a
run of such PDUs as one :class:`~.session.DeliverSmRun` of these tuples rather
than a :class:`~.pdu.DeliverSm` object each: building and reading a frozen
dataclass per message cost a receiver more than all the rest of its
decoding. The record says exactly what the PDU says (:func:`deliver_sm_from_record`
gives the PDU back, and a test checks ``decode(encode(p))`` against it);
any deliver_sm it cannot hold — a TLV, a field off its default, a malformed
body — gets ``None`` here and takes the general decoder, which also names what
is wrong with a malformed one.
"""

from __future__ import annotations

import struct
from typing import Final

from .pdu import DeliverSm

#: (sequence_number, source_addr_ton, source_addr_npi, source_addr, dest_addr_ton,
#: dest_addr_npi, destination_addr, esm_class, data_coding, short_message)
DeliverSmRecord = tuple[int, int, int, str, int, int, str, int, int, bytes]

# From esm_class to sm_length (SMPP.md §3.5): esm_class; then the eight octets from
# protocol_id to sm_default_msg_id as one 64-bit word (protocol_id, priority_flag, both time
# strings NULL as one NUL each, registered_delivery, replace_if_present_flag, data_coding,
# sm_default_msg_id), every one of them 0 but data_coding; sm_length. Three values rather
# than ten, and one comparison checks seven fields.
_TAIL: Final = struct.Struct(">BQB")
_ALL_BUT_DATA_CODING: Final = 0xFFFF_FFFF_FFFF_00FF
# source_addr and destination_addr are C-Octet Strings of at most 21 octets with the NUL,
# each after its TON and NPI octets: the NUL is at most 23 octets past the previous one.
_ADDRESS_SPAN: Final = 23


def decode_deliver_sm_record(
    data: bytes, text: str, start: int, end: int, command_status: int, sequence_number: int
) -> DeliverSmRecord | None:
    """The record of the deliver_sm whose body is ``data[start:end]``, or None.

    None when the PDU is not an ordinary one (see the module docstring) or is
    malformed: the caller decodes it in full. ``data`` may hold other PDUs
    around this one; nothing outside ``start:end`` is taken for part of it.
    ``text`` is ``data.decode("latin-1")``: the addresses are sliced from it,
    one decode per read rather than one per address (a Latin-1 character is
    one octet, so the offsets are the same).
    """
    try:
        # service_type must be empty: its NUL is the first octet.
        if command_status or data[start]:
            return None
        # The C-strings end at their NULs. The searches may run past a short body into the
        # next PDU: then the NUL is too far, or sm_start + sm_length below cannot be end.
        source_end = text.index("\0", start + 3)
        destination_end = text.index("\0", source_end + 3)
        if source_end - start > _ADDRESS_SPAN or destination_end - source_end > _ADDRESS_SPAN:
            return None
        esm_class, middle, sm_length = _TAIL.unpack_from(data, destination_end + 1)
    except (IndexError, ValueError, struct.error):
        return None
    sm_start = destination_end + 11
    if middle & _ALL_BUT_DATA_CODING or sm_start + sm_length != end:
        return None
    return (
        sequence_number,
        data[start + 1],
        data[start + 2],
        text[start + 3 : source_end],
        data[source_end + 1],
        data[source_end + 2],
        text[source_end + 3 : destination_end],
        esm_class,
        middle >> 8,
        data[sm_start:end],
    )


def deliver_sm_from_record(record: DeliverSmRecord) -> DeliverSm:
    """The deliver_sm a record stands for (the one it was decoded from)."""
    (
        sequence_number,
        source_addr_ton,
        source_addr_npi,
        source_addr,
        dest_addr_ton,
        dest_addr_npi,
        destination_addr,
        esm_class,
        data_coding,
        short_message,
    ) = record
    return DeliverSm(
        sequence_number=sequence_number,
        source_addr_ton=source_addr_ton,
        source_addr_npi=source_addr_npi,
        source_addr=source_addr,
        dest_addr_ton=dest_addr_ton,
        dest_addr_npi=dest_addr_npi,
        destination_addr=destination_addr,
        esm_class=esm_class,
        data_coding=data_coding,
        short_message=short_message,
    )


__all__ = ["DeliverSmRecord", "decode_deliver_sm_record", "deliver_sm_from_record"]
