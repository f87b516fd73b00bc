"""The errors of the SMPP core.

    SmppError
    ├── LocalProtocolError      we were asked to do something the protocol forbids
    │                            (encode a field that is too long, send in the wrong state)
    └── RemoteProtocolError     the peer sent something we cannot accept; ``status`` is the
        │                        command_status to answer it with (SMPP.md §11.6)
        ├── FramingError         the byte stream can no longer be split into PDUs:
        │                        answer generic_nack(ESME_RINVCMDLEN) and close
        └── DecodeError          one PDU's body is malformed: answer that PDU with
                                 ``status`` and keep the session up

The split follows h11: the session decides from the type alone whether to
generic_nack, answer with an error status, or drop the link.
"""

from __future__ import annotations


class SmppError(Exception):
    """Base class of every error raised by :mod:`smslocker.smpp`."""


class LocalProtocolError(SmppError):
    """Our own mistake: the caller asked for something SMPP does not allow."""


class RemoteProtocolError(SmppError):
    """The peer's mistake.

    ``status`` is the command_status to answer with; ``command_id`` and
    ``sequence_number`` are those of the offending PDU where they could be read
    (``None`` otherwise).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0x08,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.command_id = command_id
        self.sequence_number = sequence_number


class FramingError(RemoteProtocolError):
    """The stream cannot be split into PDUs any more; the link must be closed."""

    def __init__(self, message: str, *, sequence_number: int | None = None) -> None:
        super().__init__(message, status=0x02, sequence_number=sequence_number)


class DecodeError(RemoteProtocolError):
    """One PDU's body could not be decoded; answer it with ``status``."""
