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
#: (command_length, command_id, command_status, sequence_number) of one whole PDU.
Header = tuple[int, int, int, int]


class PduBuffer:
    """A receive buffer that yields whole PDUs however the bytes were split.

    A command_length under 16 or over ``max_pdu_length`` means framing is lost
    (SMPP.md §11.6): :class:`FramingError` is raised, and from then on the
    buffer refuses more data — the only safe thing left is to close the link.
    PDUs that were complete before the bad header are still returned first: if
    one read brought both, that call returns the PDUs and sets :attr:`broken`,
    and the next call raises.

    :meth:`feed` returns each PDU as a tuple with its own copy of the body;
    :meth:`split` returns their headers and the octets they lie in, for a
    receiver that decodes them where they are.
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
        view, headers = self.split(data)
        pdus: list[RawPdu] = []
        append = pdus.append
        position = 0
        for length, command_id, status, sequence in headers:
            append(
                (command_id, status, sequence, view[position + HEADER_LENGTH : position + length])
            )
            position += length
        return pdus

    def split(self, data: bytes) -> tuple[bytes, list[Header]]:
        """Add received octets; return the PDUs completed by them without copying them out.

        ``view`` holds those PDUs end to end from offset 0, and ``headers`` has
        each one's header fields, ``(command_length, command_id, command_status,
        sequence_number)``, in order: a PDU starts where the one before it ends.
        :meth:`feed` is this plus a copy of each body; a receiver that decodes
        straight from ``view`` saves that copy and a tuple per PDU.
        """
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer
        if buffer:
            buffer += data
            if len(buffer) < HEADER_LENGTH or int.from_bytes(buffer[:4], "big") > len(buffer):
                # Still no whole PDU (or a length too big, which the check below reports):
                # nothing to split, and nothing copied, however small the pieces come.
                return b"", self._check_next_length([])
            view = bytes(buffer)
            buffer.clear()
        else:
            # Common case at speed: the read started on a PDU boundary; work on it
            # directly and copy only the leftover tail.
            view = data if type(data) is bytes else bytes(data)
        headers: list[Header] = []
        append = headers.append
        unpack = _HEADER.unpack_from
        max_pdu_length = self.max_pdu_length
        end = len(view)
        position = 0
        while end - position >= HEADER_LENGTH:
            header = unpack(view, position)
            length = header[0]
            if end - position < length or length < HEADER_LENGTH or length > max_pdu_length:
                # A bad length is left in the buffer and reported by the check below, so
                # that the PDUs before it are not lost with it.
                break
            append(header)
            position += length
        if position < end:
            buffer += view[position:]
        return view, self._check_next_length(headers)

    def _check_next_length(self, pdus: list[Header]) -> list[Header]:
        """Break the buffer if what it keeps starts with a bad command_length."""
        buffer = self._buffer
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
