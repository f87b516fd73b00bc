"""Splitting a byte stream into PDUs (SMPP.md §1: read 4 octets, then length - 4 more).

TCP gives no message boundaries: one read may hold a hundred PDUs or a third
of one. :class:`PduBuffer` takes whatever arrived and hands back every whole
PDU in it, keeping the remainder for the next read.
"""

from __future__ import annotations

import struct

from .constants import HEADER_LENGTH
from .errors import FramingError

_HEADER = struct.Struct(">IIII")

#: Default cap on one PDU: room for a 64 KiB message_payload (SMPP.md §1).
DEFAULT_MAX_PDU_LENGTH = 70_000

#: (command_id, command_status, sequence_number, body) of one whole PDU.
RawPdu = tuple[int, int, int, bytes]


class PduBuffer:
    """A receive buffer that yields whole PDUs however the bytes were split.

    A command_length under 16 or over ``max_pdu_length`` means framing is lost
    (SMPP.md §11.6): :class:`FramingError` is raised, and from then on the
    buffer refuses more data — the only safe thing left is to close the link.
    PDUs that were complete before the bad header are still returned first: if
    one read brought both, that call returns the PDUs and sets :attr:`broken`,
    and the next call raises.
    """

    __slots__ = ("_broken", "_buffer", "max_pdu_length")

    def __init__(self, max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH) -> None:
        if max_pdu_length < HEADER_LENGTH:
            raise ValueError("max_pdu_length must be at least 16")
        self.max_pdu_length = max_pdu_length
        self._buffer = bytearray()
        self._broken: FramingError | None = None

    @property
    def broken(self) -> FramingError | None:
        """The error that broke the framing, or None while the stream is sound."""
        return self._broken

    def __len__(self) -> int:
        """Octets received that do not yet form a whole PDU."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[RawPdu]:
        """Add received octets; return every PDU completed by them, in order."""
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer
        if buffer:
            buffer += data
            view: bytes | bytearray = buffer
        else:
            # Common case at speed: the read started on a PDU boundary; work on
            # it directly and copy only the leftover tail.
            view = data
        pdus: list[RawPdu] = []
        append = pdus.append
        unpack = _HEADER.unpack_from
        end = len(view)
        position = 0
        while end - position >= HEADER_LENGTH:
            length, command_id, status, sequence = unpack(view, position)
            if end - position < length or length < HEADER_LENGTH or length > self.max_pdu_length:
                # A bad length is left in the buffer and reported by the check below, so
                # that the PDUs before it are not lost with it.
                break
            append(
                (
                    command_id,
                    status,
                    sequence,
                    bytes(view[position + HEADER_LENGTH : position + length]),
                )
            )
            position += length
        if view is buffer:
            del buffer[:position]
        else:
            buffer += view[position:]
        if len(buffer) >= 4:
            # Fail as soon as the length is readable rather than after a whole header.
            (length,) = struct.unpack_from(">I", buffer)
            if length < HEADER_LENGTH or length > self.max_pdu_length:
                # No sequence_number even when the header is complete: it would depend on
                # how TCP split the bytes, and a header with a bad length is untrustworthy
                # anyway; the generic_nack goes out with sequence 0 (SMPP.md §11.6).
                self._broken = FramingError(
                    f"command_length {length} outside 16..{self.max_pdu_length}"
                )
                if not pdus:
                    raise self._broken
        return pdus
