"""SMPP session state machines for both roles, without I/O (SMPP.md §11).

Theory of operation
-------------------
A :class:`Session` is one end of one SMPP connection, ESME or SMSC.  The I/O
layer feeds it the octets it read (:meth:`Session.receive_data`) and the time
(``now``, seconds on any monotonic clock); it gets back events, and it writes
whatever :meth:`Session.data_to_send` returns.  Nothing here reads a clock or
touches a socket (the pattern of h11 and h2).

What may happen in each state is one table per role and direction (:mod:`.states`):
``(state, command_id) -> next state``.  A pair missing from the table is not
allowed: a peer's request in the wrong state is answered with ESME_RINVBNDSTS
(ESME_RALYBND for a second bind) and the session stays up; our own attempt
raises :class:`LocalProtocolError`.  Binding changes state on the bind
*response* (a successful one); unbind moves to UNBOUND either way.

The session answers what needs no decision by itself — enquire_link, unbind,
unknown commands (generic_nack ESME_RINVCMDID), malformed requests (their
``_resp`` with the status the decoder chose), requests in the wrong state —
and reports each as an event.  Requests that do need a decision (deliver_sm,
submit_sm, bind on the SMSC side, ...) are handed to the application as the
PDU itself; it answers with :meth:`Session.respond`, when it is ready: for a
deliver_sm, only after the message is safe.  A receiver that asks for it
(``SessionConfig.deliver_sm_records``) gets the ordinary deliver_sm as compact
records instead, a run of them per :class:`DeliverSmRun`, and answers them with
:meth:`Session.respond_records` (see :mod:`.records`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from .codec import decode_body, decode_deliver_sm, encode
from .constants import HEADER_LENGTH, MAX_SEQUENCE_NUMBER, RESPONSE_BIT, Tag
from .constants import CommandId as C
from .constants import CommandStatus as S
from .errors import DecodeError, FramingError, LocalProtocolError, RemoteProtocolError
from .framing import DEFAULT_MAX_PDU_LENGTH, PduBuffer
from .pdu import (
    DataSm,
    DeliverSm,
    EnquireLink,
    GenericNack,
    Pdu,
    Tlv,
    Unbind,
    UnknownPdu,
    response_to,
)
from .records import DeliverSmRecord, decode_deliver_sm_record
from .session_events import (
    BindFailed,
    Bound,
    ConnectionBroken,
    DeliverSmRun,
    Event,
    InactivityTimeout,
    ProtocolViolation,
    Response,
    ResponseTimeout,
    SessionInitTimeout,
    Unbound,
    UnexpectedResponse,
)
from .states import (
    BIND_REQUESTS,
    BOUND_STATES,
    CLOSED,
    OPEN,
    RECEIVE_TABLE,
    SEND_TABLE,
    UNBOUND,
    Role,
)
from .tlv import get_int


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Timers in seconds (SMPP.md §11.4); ``None`` disables a timer."""

    window: int = 10
    response_timeout: float = 30.0
    enquire_link_interval: float | None = 30.0
    session_init_timeout: float | None = 30.0
    inactivity_timeout: float | None = None
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    #: Report ordinary deliver_sm as :class:`DeliverSmRun` records, not DeliverSm objects
    #: (a receiver's hot path; see :mod:`.records`).
    deliver_sm_records: bool = False


class WindowFull(LocalProtocolError):
    """Every slot of the send window is taken: wait for a response."""


_RESPONSE_HEADER = struct.Struct(">IIII")
# A response whose body is one empty C-string (message_id): 16-octet header and the NUL.
_EMPTY_ID_RESPONSE = struct.Struct(">IIIIB")
_DELIVER_SM: Final = int(C.DELIVER_SM)
_DELIVER_SM_RESP: Final = int(C.DELIVER_SM_RESP)
# Responses whose body is one empty C-string (message_id unused or not ours to give).
_EMPTY_ID_RESPONSES: Final = frozenset({C.DELIVER_SM, C.DATA_SM})
_EMPTY_ID_RESPONSE_BY_CLASS: Final[dict[type[Pdu], int]] = {
    DeliverSm: int(C.DELIVER_SM_RESP),
    DataSm: int(C.DATA_SM_RESP),
}
_NO_WINDOW: Final = frozenset({C.ENQUIRE_LINK, C.UNBIND, C.GENERIC_NACK})


class Session:
    """One end of one SMPP connection. See the module docstring."""

    def __init__(self, role: Role, config: SessionConfig | None = None, *, now: float) -> None:
        self.role = role
        self.config = config or SessionConfig()
        self.state = OPEN
        self.peer_interface_version: int | None = None
        self._send_table = SEND_TABLE[role]
        self._receive_table = RECEIVE_TABLE[role]
        self._buffer = PduBuffer(self.config.max_pdu_length)
        self._outbox: list[bytes] = []
        self._pending: dict[int, tuple[Pdu, float]] = {}
        # Outstanding requests that count against the window: enquire_link and unbind are
        # exempt from the window check, so they must not take a slot either (with window 1,
        # every enquire_link would otherwise make submit_sm raise WindowFull).
        self._in_window = 0
        self._next_sequence = 1
        self._opened_at = now
        self._last_received = now
        self._last_sent = now

    # -- introspection -------------------------------------------------------

    @property
    def outstanding(self) -> int:
        """Our requests still waiting for an answer."""
        return len(self._pending)

    @property
    def window_available(self) -> int:
        return max(0, self.config.window - self._in_window)

    @property
    def bound(self) -> bool:
        return self.state in BOUND_STATES

    def data_to_send(self) -> bytes:
        """Everything queued for the peer since the last call, as one write."""
        if not self._outbox:
            return b""
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    # -- sending -------------------------------------------------------------

    def send(self, pdu: Pdu, *, now: float) -> Pdu:
        """Queue a request; it gets the next sequence number. Returns the PDU as sent."""
        command_id = pdu.command_id
        if command_id & RESPONSE_BIT and command_id != C.GENERIC_NACK:
            raise LocalProtocolError("use respond() for responses")
        next_state = self._send_table.get((self.state, command_id))
        if next_state is None:
            raise LocalProtocolError(
                f"{type(pdu).__name__} may not be sent in state {self.state.name}"
            )
        needs_answer = command_id not in (C.OUTBIND, C.ALERT_NOTIFICATION, C.GENERIC_NACK)
        windowed = needs_answer and command_id not in _NO_WINDOW
        if windowed and not self.window_available:
            raise WindowFull(f"{self.config.window} requests already outstanding")
        if command_id != C.GENERIC_NACK:
            # outbind and alert_notification need a sequence number too, though no answer
            # comes: 0 is reserved for a generic_nack to an unreadable header (SMPP.md §1).
            pdu = replace(pdu, sequence_number=self._allocate_sequence())
        self._outbox.append(encode(pdu))
        if needs_answer:
            self._pending[pdu.sequence_number] = (pdu, now + self.config.response_timeout)
            if windowed:
                self._in_window += 1
        self._last_sent = now
        if command_id == C.UNBIND:
            self.state = next_state
        return pdu

    def respond(self, request: Pdu, status: int = 0, *, now: float, **fields: object) -> None:
        """Queue the answer to a peer's request (the same sequence number)."""
        command_id = request.command_id
        if command_id in _EMPTY_ID_RESPONSES and not fields:
            # The hot path: one deliver_sm_resp per inbound message. Packed directly
            # rather than through a dataclass and the generic encoder.
            self._outbox.append(
                _EMPTY_ID_RESPONSE.pack(
                    17, command_id | RESPONSE_BIT, status, request.sequence_number, 0
                )
            )
            self._last_sent = now
            return
        response = response_to(request, status, **fields)
        if response is None:
            raise LocalProtocolError(f"{type(request).__name__} has no response")
        if command_id in BIND_REQUESTS:
            if self.role is not Role.SMSC:
                raise LocalProtocolError("only an SMSC answers a bind")
            if status == 0:
                next_state = self._send_table.get((self.state, response.command_id))
                if next_state is None:
                    raise LocalProtocolError(f"cannot bind in state {self.state.name}")
                self.state = next_state
                self.peer_interface_version = getattr(request, "interface_version", 0x34)
                if self.peer_interface_version >= 0x34 and "tlvs" not in fields:
                    # Tell a 3.4 peer our version; a 3.3 peer must get no TLVs (SMPP.md §6.6).
                    fields["tlvs"] = (Tlv(Tag.SC_INTERFACE_VERSION, b"\x34"),)
                response = response_to(request, status, **fields)
                assert response is not None
        self._outbox.append(encode(response))
        self._last_sent = now

    def respond_each(self, requests: Sequence[Pdu], status: int = 0, *, now: float) -> None:
        """Queue the same answer (``status``, no fields) to each of ``requests``, in order.

        What :meth:`respond` does for each, but the answers to a read's worth of
        deliver_sm are packed into one outbox entry: a receiver acks every
        message, so a call and a list entry per ack is a cost per message.
        """
        pack = _EMPTY_ID_RESPONSE.pack
        try:
            # By exact class: command_id is a class attribute, slower to reach from an instance.
            packed = [
                pack(
                    17,
                    _EMPTY_ID_RESPONSE_BY_CLASS[type(request)],
                    status,
                    request.sequence_number,
                    0,
                )
                for request in requests
            ]
        except KeyError:
            # A request with another kind of answer (rare here): each answered on its own.
            for request in requests:
                self.respond(request, status, now=now)
            return
        if packed:
            self._outbox.append(b"".join(packed))
            self._last_sent = now

    def respond_records(
        self, records: Sequence[DeliverSmRecord], status: int = 0, *, now: float
    ) -> None:
        """Answer each deliver_sm of ``records`` with ``status``: :meth:`respond_each` for
        the PDUs they stand for, the answers packed into one outbox entry."""
        count = len(records)
        if not count:
            return
        # The answers differ only in their sequence_number, octets 12-15 of 17: rather than
        # pack each (a call per message), the read's sequence numbers are packed in one go
        # and laid into copies of one answer by four strided slice assignments.
        answers = bytearray(_EMPTY_ID_RESPONSE.pack(17, _DELIVER_SM_RESP, status, 0, 0) * count)
        sequences = struct.pack(f">{count}I", *[record[0] for record in records])
        for octet in range(4):
            answers[12 + octet :: 17] = sequences[octet::4]
        self._outbox.append(bytes(answers))
        self._last_sent = now

    def unbind(self, *, now: float) -> None:
        """Start the unbind handshake (SMPP.md §11.8)."""
        self.send(Unbind(), now=now)

    def connection_lost(self) -> list[Pdu]:
        """The connection is gone. Returns our requests that never got an answer."""
        self.state = CLOSED
        unanswered = [request for request, _deadline in self._pending.values()]
        self._pending.clear()
        self._in_window = 0
        return unanswered

    def _settle(self, sequence_number: int) -> tuple[Pdu, float] | None:
        """Take an outstanding request off the books (answered or timed out)."""
        entry = self._pending.pop(sequence_number, None)
        if entry is not None and entry[0].command_id not in _NO_WINDOW:
            self._in_window -= 1
        return entry

    def _allocate_sequence(self) -> int:
        # 1..0x7FFFFFFF, wrapping; skip numbers still outstanding (SMPP.md §1, §13).
        sequence = self._next_sequence
        while sequence in self._pending:
            sequence = sequence % MAX_SEQUENCE_NUMBER + 1
        self._next_sequence = sequence % MAX_SEQUENCE_NUMBER + 1
        return sequence

    # -- receiving -----------------------------------------------------------

    def receive_data(self, data: bytes, *, now: float) -> list[Event]:
        """Feed octets read from the connection; returns what they mean, in order."""
        if self.state is CLOSED:
            return []
        self._last_received = now
        try:
            view, headers = self._buffer.split(data)
        except FramingError:
            view, headers = b"", []
        # Read after split() even when it returned: PDUs that came before a bad header in
        # the same read are returned, and the buffer is broken all the same.
        broken = self._buffer.broken
        events: list[Event] = []
        append = events.append
        # deliver_sm is nearly all a receiver reads, so it skips _receive_one's dispatch as
        # long as the table lets it in without a change of state: looked up once per read,
        # and again only after a PDU that may change it.
        deliver_state = self.state
        fast = self._receive_table.get((deliver_state, _DELIVER_SM)) is deliver_state
        records = self.config.deliver_sm_records
        # The records of the deliver_sm read one after the other (see DeliverSmRun), and the
        # read as Latin-1 text, which they take their addresses from (made at the first).
        run: list[DeliverSmRecord] | None = None
        text: str | None = None
        end = 0
        for length, command_id, status, sequence_number in headers:
            start = end + HEADER_LENGTH
            end += length
            if command_id == _DELIVER_SM and fast:
                if records:
                    if text is None:
                        text = view.decode("latin-1")
                    record = decode_deliver_sm_record(
                        view, text, start, end, status, sequence_number
                    )
                    if record is not None:
                        if run is None:
                            run = []
                            append(DeliverSmRun(run))
                        run.append(record)
                        continue
                run = None
                try:
                    append(decode_deliver_sm(status, sequence_number, view[start:end]))
                    continue
                except DecodeError:
                    pass  # _receive_one decodes it again and answers with the error's status
            run = None
            self._receive_one(command_id, status, sequence_number, view[start:end], now, events)
            fast = fast and self.state is deliver_state
        if broken is not None:
            # Framing is lost: nack with ESME_RINVCMDLEN and close (SMPP.md §11.6).
            self._outbox.append(
                encode(
                    GenericNack(
                        sequence_number=broken.sequence_number or 0,
                        command_status=S.ESME_RINVCMDLEN,
                    )
                )
            )
            self.state = CLOSED
            events.append(ConnectionBroken(broken))
        return events

    def _receive_one(
        self,
        command_id: int,
        status: int,
        sequence_number: int,
        body: bytes,
        now: float,
        events: list[Event],
    ) -> None:
        try:
            pdu = decode_body(command_id, status, sequence_number, body)
        except DecodeError as error:
            if command_id & RESPONSE_BIT:
                # A malformed answer still answers its request: settle it, report it.
                entry = self._settle(sequence_number)
                events.append(ProtocolViolation(error, None))
                if entry is not None:
                    events.append(ResponseTimeout(entry[0]))
                return
            self._answer_error(command_id, sequence_number, error.status, now)
            events.append(ProtocolViolation(error, error.status))
            return
        if pdu.is_response:
            self._receive_response(pdu, events)
            return
        if isinstance(pdu, UnknownPdu):
            self._answer_error(command_id, sequence_number, S.ESME_RINVCMDID, now)
            events.append(
                ProtocolViolation(
                    RemoteProtocolError(
                        f"unknown command_id 0x{command_id:08X}",
                        status=S.ESME_RINVCMDID,
                        command_id=command_id,
                        sequence_number=sequence_number,
                    ),
                    S.ESME_RINVCMDID,
                )
            )
            return
        next_state = self._receive_table.get((self.state, command_id))
        if next_state is None:
            answer = (
                S.ESME_RALYBND
                if command_id in BIND_REQUESTS and self.state in BOUND_STATES
                else S.ESME_RINVBNDSTS
            )
            self._answer_error(command_id, sequence_number, answer, now)
            events.append(
                ProtocolViolation(
                    RemoteProtocolError(
                        f"{type(pdu).__name__} not allowed in state {self.state.name}",
                        status=answer,
                        command_id=command_id,
                        sequence_number=sequence_number,
                    ),
                    answer,
                )
            )
            return
        if command_id == C.ENQUIRE_LINK:
            self._outbox.append(_RESPONSE_HEADER.pack(16, C.ENQUIRE_LINK_RESP, 0, sequence_number))
            self._last_sent = now
            return
        if command_id == C.UNBIND:
            self._outbox.append(_RESPONSE_HEADER.pack(16, C.UNBIND_RESP, 0, sequence_number))
            self._last_sent = now
            self.state = next_state
            events.append(Unbound(by_peer=True))
            return
        events.append(pdu)

    def _receive_response(self, pdu: Pdu, events: list[Event]) -> None:
        entry = self._settle(pdu.sequence_number)
        if entry is None:
            events.append(UnexpectedResponse(pdu))
            return
        request = entry[0]
        if not isinstance(pdu, GenericNack) and pdu.command_id != request.command_id | RESPONSE_BIT:
            # Answer of the wrong type: the request is settled as failed all the same.
            events.append(
                ProtocolViolation(
                    RemoteProtocolError(
                        f"{type(pdu).__name__} answers a {type(request).__name__}",
                        command_id=pdu.command_id,
                        sequence_number=pdu.sequence_number,
                    ),
                    None,
                )
            )
        events.append(Response(pdu, request))
        if request.command_id in BIND_REQUESTS:
            answers_the_bind = pdu.command_id == request.command_id | RESPONSE_BIT
            if pdu.command_status == 0 and answers_the_bind:
                self.state = self._receive_table.get((self.state, pdu.command_id), self.state)
                try:
                    version = get_int(pdu.tlvs, 0x0210)
                except DecodeError:
                    version = None
                # No sc_interface_version: treat the SMSC as 3.3 (SMPP.md §3.2, §6.6).
                self.peer_interface_version = 0x33 if version is None else version
                events.append(
                    Bound(self.state, getattr(pdu, "system_id", ""), self.peer_interface_version)
                )
            else:
                # A "successful" answer of another type (generic_nack included) binds nothing:
                # treating it as success reported Bound while the state stayed OPEN, or moved
                # to a bind type we did not ask for.
                events.append(BindFailed(pdu.command_status or S.ESME_RBINDFAIL))
        elif request.command_id == C.UNBIND:
            self.state = UNBOUND
            events.append(Unbound(by_peer=False))

    def _answer_error(self, command_id: int, sequence_number: int, status: int, now: float) -> None:
        request_class_known = command_id | RESPONSE_BIT in _RESPONSE_IDS
        if request_class_known and command_id not in (C.OUTBIND, C.ALERT_NOTIFICATION):
            self._outbox.append(
                _RESPONSE_HEADER.pack(16, command_id | RESPONSE_BIT, status, sequence_number)
            )
        else:
            self._outbox.append(_RESPONSE_HEADER.pack(16, C.GENERIC_NACK, status, sequence_number))
        self._last_sent = now

    # -- timers --------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timers` next has something to do (None: nothing scheduled)."""
        config = self.config
        deadlines = [deadline for _request, deadline in self._pending.values()]
        if (
            self.state in BOUND_STATES
            and config.enquire_link_interval is not None
            # handle_timers() sends no second enquire_link while one is outstanding, so this
            # deadline must wait too; else it stays in the past and a loop sleeping until
            # next_deadline() spins until the response timer fires.
            and not self._enquire_link_outstanding()
        ):
            deadlines.append(
                max(self._last_sent, self._last_received) + config.enquire_link_interval
            )
        if (
            self.state is OPEN
            and self.role is Role.SMSC
            and config.session_init_timeout is not None
        ):
            deadlines.append(self._opened_at + config.session_init_timeout)
        if config.inactivity_timeout is not None and self.state is not CLOSED:
            deadlines.append(max(self._last_sent, self._last_received) + config.inactivity_timeout)
        return min(deadlines) if deadlines else None

    def handle_timers(self, *, now: float) -> list[Event]:
        """Fire every timer due at ``now``: time out requests, send enquire_link."""
        events: list[Event] = []
        if self.state is CLOSED:
            return events
        config = self.config
        expired = [seq for seq, (_request, deadline) in self._pending.items() if deadline <= now]
        for sequence_number in expired:
            entry = self._settle(sequence_number)
            assert entry is not None
            events.append(ResponseTimeout(entry[0]))
        last_activity = max(self._last_sent, self._last_received)
        if (
            self.state is OPEN
            and self.role is Role.SMSC
            and config.session_init_timeout is not None
            and now >= self._opened_at + config.session_init_timeout
        ):
            events.append(SessionInitTimeout())
        if (
            config.inactivity_timeout is not None
            and now >= last_activity + config.inactivity_timeout
        ):
            events.append(InactivityTimeout())
        if (
            self.state in BOUND_STATES
            and config.enquire_link_interval is not None
            and now >= last_activity + config.enquire_link_interval
            and not self._enquire_link_outstanding()
        ):
            self.send(EnquireLink(), now=now)
        return events

    def _enquire_link_outstanding(self) -> bool:
        return any(request.command_id == C.ENQUIRE_LINK for request, _ in self._pending.values())


_RESPONSE_IDS: Final = frozenset(int(c) for c in C if c & RESPONSE_BIT)
