"""What an SMPP :class:`~.session.Session` reports besides the peer's requests: answers to
our requests, binding and unbinding, timeouts, protocol violations (SMPP.md §11)."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import FramingError, RemoteProtocolError
from .pdu import GenericNack, Pdu
from .records import DeliverSmRecord
from .states import State


@dataclass(frozen=True, slots=True)
class Response:
    """The peer answered one of our requests (a generic_nack counts as an answer)."""

    pdu: Pdu
    request: Pdu

    @property
    def ok(self) -> bool:
        return self.pdu.command_status == 0 and not isinstance(self.pdu, GenericNack)


@dataclass(frozen=True, slots=True)
class Bound:
    """The session is bound; ``interface_version`` is the peer's (0x33 if it did not say)."""

    state: State
    system_id: str
    interface_version: int


@dataclass(frozen=True, slots=True)
class BindFailed:
    status: int


@dataclass(frozen=True, slots=True)
class Unbound:
    """The session reached UNBOUND: close the connection. ``by_peer`` tells who asked."""

    by_peer: bool


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer sent something we could not accept; the session already answered it."""

    error: RemoteProtocolError
    answered_with: int | None


@dataclass(frozen=True, slots=True)
class UnexpectedResponse:
    """A response that matches none of our outstanding requests (late, after a timeout)."""

    pdu: Pdu


@dataclass(frozen=True, slots=True)
class ResponseTimeout:
    """No answer to ``request`` within the response timeout."""

    request: Pdu


@dataclass(frozen=True, slots=True)
class SessionInitTimeout:
    """SMSC side: no bind arrived in time after the connection opened."""


@dataclass(frozen=True, slots=True)
class InactivityTimeout:
    """Nothing was exchanged for the inactivity timeout."""


@dataclass(frozen=True, slots=True)
class DeliverSmRun:
    """Ordinary deliver_sm received one after the other, as records (see :mod:`.records`).

    Only with ``SessionConfig.deliver_sm_records``: each stands for the
    :class:`~.pdu.DeliverSm` that :func:`~.records.deliver_sm_from_record` gives,
    and is answered the same way, with :meth:`Session.respond_records`.
    """

    records: list[DeliverSmRecord]


@dataclass(frozen=True, slots=True)
class ConnectionBroken:
    """Framing is lost (SMPP.md §11.6): generic_nack was queued; close the link now."""

    error: FramingError


SessionEvent = (
    Response
    | Bound
    | BindFailed
    | Unbound
    | ProtocolViolation
    | UnexpectedResponse
    | ResponseTimeout
    | SessionInitTimeout
    | InactivityTimeout
    | ConnectionBroken
    | DeliverSmRun
)
#: What :meth:`Session.receive_data` returns: peer requests (the PDUs themselves) and events.
Event = Pdu | SessionEvent
