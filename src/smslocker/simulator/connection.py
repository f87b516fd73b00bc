"""The asyncio side of one ESME's connection to the simulated SMSC.

Theory of operation: ``data_received`` splits the octets into PDUs with a
:class:`PduBuffer` of its own, lets a running load generator take its
deliver_sm_resp out of them (that is its fast path), and feeds the rest, whole,
to the sans-I/O :class:`Session`. Requests that need a decision come back as
PDUs: binds are checked against the accounts here, submit-side requests go to
the loopback. Everything the session queued while handling one read is
written once, as the answers of that read — which is where a misbehaviour mode
may swallow, garble or delay them. deliver_sm are queued by the dispatcher in
its own callback and written by :meth:`flush`, so they never mix with answers.
The session's timers run on ``loop.call_at`` at ``session.next_deadline()``.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from smslocker.log import get_logger
from smslocker.smpp.codec import encode
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import status_name
from smslocker.smpp.errors import FramingError
from smslocker.smpp.framing import PduBuffer, RawPdu
from smslocker.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    GenericNack,
    Pdu,
    SubmitMulti,
    SubmitSm,
)
from smslocker.smpp.session import Session, SessionConfig
from smslocker.smpp.session_events import (
    ConnectionBroken,
    Event,
    InactivityTimeout,
    ProtocolViolation,
    Response,
    ResponseTimeout,
    SessionInitTimeout,
    Unbound,
)
from smslocker.smpp.states import Role, State

from .behaviour import garbage
from .core import SmscCore
from .messages import Delivery
from .views import SessionStatus

log = get_logger(__name__)

_HEADER = struct.Struct(">IIII")
_BIND_TYPES = {
    State.BOUND_RX: "receiver",
    State.BOUND_TX: "transmitter",
    State.BOUND_TRX: "transceiver",
}
_RECEIVING = frozenset({State.BOUND_RX, State.BOUND_TRX})
_numbers = itertools.count(1)

#: Things to do once the answers of a read are on the wire (or were swallowed).
After = list[Callable[[], None]]


class LoadHook(Protocol):
    """A load run using this connection (see :mod:`.loadgen`)."""

    def take_acks(self, pdus: list[RawPdu]) -> list[RawPdu]:
        """Count the load's deliver_sm_resp among ``pdus``; return the others."""
        ...

    def connection_lost(self, connection: SmscConnection) -> None: ...


class SmscConnection(asyncio.Protocol):
    """One TCP (or TLS) connection from an ESME. See the module docstring."""

    def __init__(self, core: SmscCore) -> None:
        config = core.config
        self.core = core
        self.loop = asyncio.get_running_loop()
        self.number = next(_numbers)
        self.name = f"session-{self.number}"
        self.session = Session(
            Role.SMSC,
            SessionConfig(
                window=config.window,
                response_timeout=config.response_timeout,
                enquire_link_interval=config.enquire_link_interval,
                session_init_timeout=config.session_init_timeout,
                inactivity_timeout=config.inactivity_timeout,
                max_pdu_length=config.max_pdu_length,
            ),
            now=self.loop.time(),
        )
        self.system_id = ""
        self.peer = ""
        self.address_range: re.Pattern[str] | None = None
        self.in_flight: dict[int, Delivery] = {}
        self.deliveries_sent = 0
        """deliver_sm sent since the bind or the last mode change (unbind/drop_after count)."""
        self.total_sent = 0
        self.load: LoadHook | None = None
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self.bound_at: datetime | None = None
        self._buffer = PduBuffer(config.max_pdu_length)
        self._ready = False  # bind_resp is on the wire: deliver_sm may follow
        self._timer: asyncio.TimerHandle | None = None
        self._timer_deadline: float | None = None

    # -- what others ask -------------------------------------------------------------

    @property
    def bind_type(self) -> str | None:
        return _BIND_TYPES.get(self.session.state)

    @property
    def receives(self) -> bool:
        return self.session.state in _RECEIVING

    @property
    def closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def accepts(self, destination: str) -> bool:
        # address_range is a regex over the whole destination (SMPP.md §3.1).
        return self.address_range is None or self.address_range.fullmatch(destination) is not None

    def can_deliver(self) -> bool:
        mode = self.core.mode
        behaviour = mode.behaviour
        counted = behaviour.unbinds_after_count or behaviour.drops_after_count
        if counted and self.deliveries_sent >= mode.count:
            return False
        return (
            self._ready
            and behaviour.delivers
            and self.session.state in _RECEIVING
            and self.session.window_available > 0
            and not self.closing
        )

    def deliver(self, delivery: Delivery) -> None:
        sent = self.session.send(delivery.pdu, now=self.loop.time())
        self.in_flight[sent.sequence_number] = delivery
        delivery.delivered_to = self.name
        self.deliveries_sent += 1
        self.total_sent += 1

    def flush(self) -> None:
        """Write the deliver_sm the dispatcher queued, then apply unbind/drop_after."""
        self._write_requests()
        self._apply_counted_behaviour()
        self._reschedule()

    def write(self, data: bytes | bytearray) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self, reason: str) -> None:
        if not self.closing:
            assert self.transport is not None
            log.info("simulator.closing", session=self.name, reason=reason)
            self.transport.close()

    def abort(self, reason: str) -> None:
        if self.transport is not None:
            log.info("simulator.aborting", session=self.name, reason=reason)
            self.transport.abort()

    def unbind(self) -> None:
        """Start a graceful goodbye: unbind if bound, else just close."""
        self.core.unbound(self)
        if self.session.bound and not self.closing:
            self.session.unbind(now=self.loop.time())
            self._write_requests()
            self._reschedule()
        else:
            self.close("simulator stopping")

    def mode_changed(self) -> None:
        self.deliveries_sent = 0
        self._apply_counted_behaviour()

    def status(self) -> SessionStatus:
        return SessionStatus(
            id=self.name,
            peer=self.peer,
            system_id=self.system_id,
            bind=self.bind_type,
            address_range=self.address_range.pattern if self.address_range else None,
            in_flight=len(self.in_flight),
            deliver_sm_sent=self.total_sent,
            bound_at=self.bound_at.isoformat() if self.bound_at else None,
            load=self.load is not None,
        )

    # -- asyncio.Protocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.core.opened(self)
        self._reschedule()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ready = False
        self.session.connection_lost()
        if self.load is not None:
            self.load.connection_lost(self)
        # Never acked: the SMSC delivers them again, elsewhere or later (SMPP.md §5.1).
        for delivery in self.in_flight.values():
            self.core.dispatcher.unanswered(delivery, "connection lost")
        self.in_flight.clear()
        self.core.closed(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            pdus = self._buffer.feed(data)
        except FramingError:
            pdus = []
        if self.load is not None and pdus:
            pdus = self.load.take_acks(pdus)
        if pdus:
            now = self.loop.time()
            whole = b"".join([_HEADER.pack(16 + len(b), c, s, q) + b for c, s, q, b in pdus])
            after: After = []
            for event in self.session.receive_data(whole, now=now):
                self._handle(event, now, after)
            self._write_answers(after)
            self._reschedule()
        # PDUs before a bad header in the same read were handled above; then the framing
        # is lost: nack with ESME_RINVCMDLEN and close (SMPP.md §11.6).
        broken = self._buffer.broken
        if broken is not None:
            nack = GenericNack(
                sequence_number=broken.sequence_number or 0, command_status=S.ESME_RINVCMDLEN
            )
            self.write(encode(nack))
            self.close(f"framing lost: {broken}")

    # -- events -------------------------------------------------------------------------

    def _handle(self, event: Event, now: float, after: After) -> None:
        behaviour = self.core.mode.behaviour
        if isinstance(event, Pdu):
            if not behaviour.answers:
                return  # never_answer: read everything, say nothing
            if isinstance(event, BindReceiver | BindTransmitter | BindTransceiver):
                self._bind(event, now, after)
            elif behaviour.throttles_submits and isinstance(event, SubmitSm | DataSm | SubmitMulti):
                self.session.respond(event, S.ESME_RTHROTTLED, now=now)
            elif not self.core.loopback.handle(self, event, now):
                self.session.respond(event, S.ESME_RSYSERR, now=now)
        elif isinstance(event, Response):
            self._answered(event)
        elif isinstance(event, ResponseTimeout):
            self._timed_out(event.request)
        elif isinstance(event, Unbound):
            self.core.unbound(self)
            if behaviour.answers:
                after.append(lambda: self.close("unbound"))
        elif isinstance(event, ConnectionBroken):
            after.append(lambda: self.close("framing lost"))
        elif isinstance(event, ProtocolViolation):
            log.info("simulator.protocol_violation", session=self.name, error=str(event.error))

    def _bind(
        self, pdu: BindReceiver | BindTransmitter | BindTransceiver, now: float, after: After
    ) -> None:
        smsc_id = self.core.config.system_id
        status = self.core.authenticate(pdu.system_id, pdu.password)
        pattern = None
        if status == S.ESME_ROK and pdu.address_range:
            try:
                pattern = re.compile(pdu.address_range)
            except re.error:
                status = S.ESME_RBINDFAIL
        if status != S.ESME_ROK:
            self.core.bind_failures += 1
            self.session.respond(pdu, status, now=now, system_id=smsc_id)
            # The answer first, then the door (SMPP.md §11.2).
            after.append(lambda: self.close(f"bind refused: {status_name(status)}"))
            return
        self.session.respond(pdu, now=now, system_id=smsc_id)
        self.system_id = pdu.system_id
        self.address_range = pattern
        after.append(self._bind_answered)

    def _bind_answered(self) -> None:
        self._ready = True
        self.bound_at = datetime.now(UTC)
        self.deliveries_sent = 0
        self.core.bound(self)
        self._apply_counted_behaviour()

    def _answered(self, response: Response) -> None:
        request = response.request
        if not isinstance(request, DeliverSm):
            return
        delivery = self.in_flight.pop(request.sequence_number, None)
        if delivery is None:
            return
        status = response.pdu.command_status
        if not response.ok and status == S.ESME_ROK:
            status = S.ESME_RUNKNOWNERR  # a generic_nack with status 0 is still no ack
        self.core.dispatcher.answered(delivery, status)
        self.core.dispatcher.schedule_pump()

    def _timed_out(self, request: Pdu) -> None:
        if isinstance(request, DeliverSm):
            delivery = self.in_flight.pop(request.sequence_number, None)
            if delivery is not None:
                self.core.dispatcher.unanswered(delivery, "response timeout")
                self.core.dispatcher.schedule_pump()
        elif self.core.mode.behaviour.answers:
            # enquire_link or unbind unanswered: the link is dead (SMPP.md §11.4).
            self.close(f"no answer to {type(request).__name__}")

    # -- writing ---------------------------------------------------------------------------

    def _write_answers(self, after: After) -> None:
        data = self.session.data_to_send()
        mode = self.core.mode
        behaviour = mode.behaviour
        if not behaviour.answers:
            data = b""
        elif data and behaviour.garbles_answers:
            data = garbage(len(data))
        if behaviour.delays_answers and (data or after):
            self.loop.call_later(mode.delay, self._write_then, data, after)
        else:
            self._write_then(data, after)

    def _write_then(self, data: bytes, after: After) -> None:
        if data:
            self.write(data)
        for action in after:
            action()

    def _write_requests(self) -> None:
        data = self.session.data_to_send()
        if data and self.core.mode.behaviour.answers:
            self.write(data)

    def _apply_counted_behaviour(self) -> None:
        mode = self.core.mode
        behaviour = mode.behaviour
        if not self._ready or self.closing or self.deliveries_sent < mode.count:
            return
        if behaviour.drops_after_count:
            self.core.unbound(self)
            self.abort(f"drop_after {mode.count} deliver_sm")
        elif behaviour.unbinds_after_count and self.session.bound:
            self.core.unbound(self)
            self.session.unbind(now=self.loop.time())
            self._write_requests()
            self._reschedule()

    # -- timers ------------------------------------------------------------------------------

    def _reschedule(self) -> None:
        deadline = self.session.next_deadline()
        if deadline == self._timer_deadline or self.session.state is State.CLOSED:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_deadline = deadline
        self._timer = None if deadline is None else self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        deadline = self._timer_deadline or 0.0
        self._timer = None
        self._timer_deadline = None
        if self.closing:
            return
        # call_at may fire a hair early (clock resolution); the session must see the deadline.
        now = max(self.loop.time(), deadline)
        for event in self.session.handle_timers(now=now):
            if isinstance(event, ResponseTimeout):
                self._timed_out(event.request)
            elif isinstance(event, SessionInitTimeout):
                self.close("no bind in time")
            elif isinstance(event, InactivityTimeout):
                self.close("inactive")
        self._write_requests()
        self._reschedule()
