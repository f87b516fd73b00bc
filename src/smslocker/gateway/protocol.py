"""The asyncio side of one ESME connection: socket events in, session and sink out.

Theory of operation: ``data_received`` feeds the octets to the sans-I/O
:class:`~smslocker.smpp.session.Session`, turns every deliver_sm/data_sm of
that read into a message, a receipt, or a part to hold, and passes the
messages and receipts of the read to the sink as one batch.  When the sink
returns, every PDU of the batch is answered in one write; if it raises, each
is answered with a temporary error so that the SMSC redelivers (DESIGN.md,
guarantee 1).  A part of a long message is answered only when its whole
message is safe, never before.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from smslocker.log import get_logger
from smslocker.smpp.concat import ReassemblyKey
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import status_name
from smslocker.smpp.errors import DecodeError
from smslocker.smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    EnquireLink,
    Outbind,
    Pdu,
    Unbind,
)
from smslocker.smpp.records import DeliverSmRecord, deliver_sm_from_record
from smslocker.smpp.session import Session, SessionConfig
from smslocker.smpp.session_events import (
    BindFailed,
    Bound,
    ConnectionBroken,
    DeliverSmRun,
    Event,
    ProtocolViolation,
    Response,
    ResponseTimeout,
    Unbound,
    UnexpectedResponse,
)
from smslocker.smpp.states import Role

from .config import BindType, ConnectorConfig
from .inbound import Assembled, Duplicate, InboundDecoder, Outcome, Pending
from .messages import InboundEvent, InboundMessage, InboundReceipt, Sink, SinkSaturated

if TYPE_CHECKING:
    from .connector import Connector

log = get_logger(__name__)

_BIND_PDU: dict[BindType, type[BindReceiver | BindTransceiver | BindTransmitter]] = {
    BindType.RECEIVER: BindReceiver,
    BindType.TRANSCEIVER: BindTransceiver,
    BindType.TRANSMITTER: BindTransmitter,
}
_TIMER_TICK = 0.25
#: Our requests whose unanswered timeout means that the link itself is stale.
_LINK_REQUESTS = (BindReceiver, BindTransceiver, BindTransmitter, EnquireLink, Unbind)


class EsmeProtocol(asyncio.Protocol):
    """One TCP (or TLS) connection of a :class:`Connector` to its SMSC."""

    def __init__(self, connector: Connector, decoder: InboundDecoder, sink: Sink) -> None:
        self.connector = connector
        self.config: ConnectorConfig = connector.config
        self.decoder = decoder
        self.sink = sink
        self.loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[BaseException | None] = self.loop.create_future()
        self.bound: asyncio.Future[Bound] = self.loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.session: Session | None = None
        self._unacked = 0
        # Parts of long messages waiting for their siblings: key -> [(pdu, held since)].
        self._held: dict[ReassemblyKey, list[tuple[Pdu, float]]] = {}
        # Long messages handed to the sink and not yet safe: key -> redelivered parts to ack too.
        self._in_sink: dict[ReassemblyKey, list[Pdu]] = {}
        self._waiters: dict[int, asyncio.Future[Response]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._last_inbound = self.loop.time()
        self._tasks: set[asyncio.Task[None]] = set()
        # Why this side ended the link (the first reason given); None if the SMSC did.
        self.close_reason: str | None = None

    # -- connection ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        now = self.loop.time()
        config = self.config
        self.session = Session(
            Role.ESME,
            SessionConfig(
                window=config.window,
                response_timeout=config.response_timeout,
                enquire_link_interval=config.enquire_link_interval,
                max_pdu_length=config.max_pdu_length,
                deliver_sm_records=True,
            ),
            now=now,
        )
        bind = _BIND_PDU[config.bind](
            system_id=config.system_id,
            password=config.password,
            system_type=config.system_type,
            interface_version=config.interface_version,
            addr_ton=config.addr_ton,
            addr_npi=config.addr_npi,
            address_range=config.address_range,
        )
        self.session.send(bind, now=now)
        self._flush()
        self._timer = self.loop.call_later(_TIMER_TICK, self._on_timer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.session is not None:
            self.session.connection_lost()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection to the SMSC lost"))
        self._waiters.clear()
        # Held parts were never acked: the SMSC redelivers them on the next bind.
        self._held.clear()
        if not self.bound.done():
            self.bound.set_exception(ConnectionError(str(exc) if exc else "connection closed"))
            self.bound.exception()  # retrieved here; the connector reads `closed`
        if not self.closed.done():
            self.closed.set_result(exc)

    def close(self, reason: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.close_reason is None:
                self.close_reason = reason
            log.info("connector.closing", connector=self.config.name, reason=reason)
            self.transport.close()

    def _flush(self) -> None:
        assert self.session is not None
        assert self.transport is not None
        data = self.session.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)

    # -- receiving -------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        session = self.session
        assert session is not None
        now = self.loop.time()
        events = session.receive_data(data, now=now)
        if not events:
            self._flush()
            return
        # One clock reading per read, not per message: they arrived together.
        received_at = datetime.now(UTC)
        batch = _Batch()
        # What this read may add before the sink is too far behind (_unacked changes only
        # after the loop, in _dispatch, and when a sink call returns). A read adds at most
        # one PDU per record or event plus the held parts a message completes: when even
        # that fits, no check per message is needed.
        room = self.config.max_unacked - self._unacked
        size = sum(len(event.records) if type(event) is DeliverSmRun else 1 for event in events)
        limited = size + sum(map(len, self._held.values())) >= room
        # The hot path: the ordinary messages of a run of records (usually the whole read)
        # are decoded in one call, for the sink, their acks after it; the rest one by one.
        rest: list[Event] = []
        for event in events:
            if type(event) is not DeliverSmRun:
                rest.append(event)
                continue
            assert isinstance(event, DeliverSmRun)
            records = event.records
            plain = [] if limited else self.decoder.decode_records(records, received_at)
            if plain:
                self._last_inbound = now
                if rest:
                    # Whatever came before the run is filed first, in the order it came.
                    self._file_each(rest, now, received_at, room if limited else None, batch)
                    rest = []
                batch.events.extend(plain)
                if len(plain) == len(records):
                    batch.records.extend(records)
                    continue
                batch.records.extend(records[: len(plain)])
                records = records[len(plain) :]
            rest.extend(map(deliver_sm_from_record, records))
        if rest:
            self._file_each(rest, now, received_at, room if limited else None, batch)
        self._dispatch(batch, now)
        self._flush()

    def _file_each(
        self,
        events: list[Event],
        now: float,
        received_at: datetime,
        room: int | None,
        batch: _Batch,
    ) -> None:
        """Take a read's events one by one: messages, parts, receipts, session events."""
        session = self.session
        assert session is not None
        for event in events:
            if not isinstance(event, DeliverSm | DataSm):
                self._event(event, now)
                continue
            self._last_inbound = now
            if room is not None and len(batch.pdus) >= room:
                # The sink is behind: ask the SMSC to slow down and redeliver (SMPP.md §5.1).
                session.respond(event, S.ESME_RTHROTTLED, now=now)
                self.connector.stats.throttled += 1
                continue
            try:
                outcome = self.decoder.decode(event, now, received_at)
            except DecodeError as error:
                session.respond(event, error.status, now=now)
                self.connector.stats.rejected += 1
                log.warning("connector.bad_tlv", connector=self.config.name, error=str(error))
                continue
            self._inbound(event, outcome, now, batch)

    def _dispatch(self, batch: _Batch, now: float) -> None:
        """Hand a batch to the sink (acks follow), or ack at once what needs no sink."""
        if batch.events:
            self._unacked += len(batch.pdus) + len(batch.records)
            for key in batch.keys:
                self._in_sink[key] = []
            task = self.loop.create_task(self._deliver(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif batch.pdus:
            assert self.session is not None
            self.session.respond_each(batch.pdus, now=now)

    def _inbound(
        self, pdu: DeliverSm | DataSm, outcome: Outcome, now: float, batch: _Batch
    ) -> None:
        """File what the decoder made of ``pdu``."""
        kind = type(outcome)
        if kind is InboundMessage:
            assert isinstance(outcome, InboundMessage)
            batch.events.append(outcome)
            batch.pdus.append(pdu)
        elif kind is InboundReceipt:
            assert isinstance(outcome, InboundReceipt)
            batch.events.append(outcome)
            batch.pdus.append(pdu)
            batch.receipts += 1
        elif kind is Assembled:
            assert isinstance(outcome, Assembled)
            batch.events.append(outcome.message)
            batch.pdus.append(pdu)
            batch.pdus.extend(held for held, _since in self._held.pop(outcome.key, ()))
            batch.keys.append(outcome.key)
        elif kind is Pending:
            assert isinstance(outcome, Pending)
            self._held.setdefault(outcome.key, []).append((pdu, now))
        else:
            assert isinstance(outcome, Duplicate)
            if outcome.key in self._in_sink:
                self._in_sink[outcome.key].append(pdu)
            elif outcome.key in self._held or not outcome.stored:
                # Its message is not stored yet: still incomplete (its other parts may be
                # held from a previous connection), or in a sink call of an earlier
                # connection that may yet fail. Held like any part, never acked early.
                self._held.setdefault(outcome.key, []).append((pdu, now))
            else:
                # Its message is already safe: the SMSC just missed our ack.
                batch.pdus.append(pdu)

    async def _deliver(self, batch: _Batch) -> None:
        stats = self.connector.stats
        pdus = batch.pdus
        records = batch.records
        try:
            await self.sink.accept(batch.events)
            status = 0
        except SinkSaturated:
            status = S.ESME_RTHROTTLED
            stats.throttled += len(pdus) + len(records)
        except Exception as error:  # a sink failure must become a redelivery, never a loss
            status = S.ESME_RX_T_APPN
            stats.sink_errors += 1
            stats.last_error = f"sink: {error!r}"
            log.error("connector.sink_failed", connector=self.config.name, error=repr(error))
        self._unacked -= len(pdus) + len(records)
        for key in batch.keys:
            pdus.extend(self._in_sink.pop(key, ()))
            # Not stored: the SMSC redelivers every part; the decoder accepts them afresh.
            self.decoder.settle(key, stored=status == 0)
        if status == 0:
            stats.messages += len(batch.events) - batch.receipts
            stats.receipts += batch.receipts
            stats.acked += len(pdus) + len(records)
        else:
            stats.nacked += len(pdus) + len(records)
        if self.session is None or self.transport is None or self.transport.is_closing():
            return  # unacked: the SMSC redelivers, de-duplication keeps the inbox exact
        # Every ack of the batch in one write.
        now = self.loop.time()
        self.session.respond_records(records, status, now=now)
        self.session.respond_each(pdus, status, now=now)
        self._flush()

    # -- session events and timers ---------------------------------------------

    def _event(self, event: object, now: float) -> None:
        config = self.config
        if isinstance(event, Response):
            waiter = self._waiters.pop(event.request.sequence_number, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event)
        elif isinstance(event, Bound):
            self._last_inbound = now
            if not self.bound.done():
                self.bound.set_result(event)
        elif isinstance(event, BindFailed):
            self.connector.stats.last_error = f"bind refused: {status_name(event.status)}"
            self.close(self.connector.stats.last_error)
        elif isinstance(event, Unbound):
            self._flush()  # the session's unbind_resp goes out before the door closes
            self.close("unbound by the SMSC" if event.by_peer else "unbound")
        elif isinstance(event, ResponseTimeout):
            waiter = self._waiters.pop(event.request.sequence_number, None)
            if waiter is not None and not waiter.done():
                waiter.set_exception(TimeoutError(f"no answer to {type(event.request).__name__}"))
            if isinstance(event.request, _LINK_REQUESTS):
                # No answer to bind, enquire_link or unbind: the link is stale (SMPP.md §11.4).
                # Only these: a slow answer to a query_sm or data_sm (submit() sends any
                # request) used to drop the link, and every message in flight on it.
                self.connector.stats.last_error = f"no answer to {type(event.request).__name__}"
                self.close(f"no answer to {type(event.request).__name__}")
        elif isinstance(event, ConnectionBroken):
            self.connector.stats.last_error = str(event.error)
            self._flush()
            self.close("framing lost")
        elif isinstance(event, ProtocolViolation):
            self.connector.stats.rejected += 1
            log.warning(
                "connector.protocol_violation", connector=config.name, error=str(event.error)
            )
        elif isinstance(event, UnexpectedResponse):
            log.info(
                "connector.late_response", connector=config.name, seq=event.pdu.sequence_number
            )
        else:
            # alert_notification, outbind and other requests an ESME may receive but has no use for
            # here; their answers (if any) are the session's. Neither alert_notification nor
            # outbind has a response: respond() raised LocalProtocolError for an outbind (an
            # SMSC may send one before its bind_resp), which broke data_received and the link.
            if isinstance(event, Pdu) and not isinstance(event, AlertNotification | Outbind):
                assert self.session is not None
                self.session.respond(event, now=now)

    def _on_timer(self) -> None:
        session = self.session
        if session is None or self.transport is None or self.transport.is_closing():
            return
        now = self.loop.time()
        for event in session.handle_timers(now=now):
            self._event(event, now)
        self._release_held(now)
        self._expire_incomplete(now)
        ghost = self.config.ghost_timeout
        if (
            ghost is not None
            and session.bound
            and self.config.bind is not BindType.TRANSMITTER
            and now - self._last_inbound > ghost
        ):
            # Bound, enquire_link answered, yet nothing delivered for this long: carriers
            # leave such "ghost sessions" behind; a fresh bind gets traffic flowing again.
            self.connector.stats.last_error = f"no deliver_sm for {ghost:.0f}s: rebinding"
            self.close_reason = self.close_reason or self.connector.stats.last_error
            self.unbind()
        self._flush()
        self._timer = self.loop.call_later(_TIMER_TICK, self._on_timer)

    def _release_held(self, now: float) -> None:
        """Answer parts held too long ESME_RX_T_APPN, before the SMSC's response timer fires."""
        assert self.session is not None
        deadline = now - self.config.part_ack_hold
        for key in list(self._held):
            keep = []
            for pdu, since in self._held[key]:
                if since <= deadline:
                    self.session.respond(pdu, S.ESME_RX_T_APPN, now=now)
                else:
                    keep.append((pdu, since))
            if keep:
                self._held[key] = keep
            else:
                del self._held[key]

    def _expire_incomplete(self, now: float) -> None:
        """Long messages that never completed go to the sink with what arrived, flagged."""
        expired = self.decoder.reassembler.expire(now)
        if not expired:
            return
        batch = _Batch()
        received_at = datetime.now(UTC)
        for completed in expired:
            batch.events.append(self.decoder.message_from(completed, received_at))
            if completed.key is not None:
                batch.pdus.extend(pdu for pdu, _since in self._held.pop(completed.key, ()))
                batch.keys.append(completed.key)
        self._dispatch(batch, now)

    # -- requests of our own -----------------------------------------------------

    def unbind(self) -> None:
        if self.session is not None and self.session.bound:
            self.session.unbind(now=self.loop.time())
            self._flush()
        else:
            self.close("unbind")

    async def request(self, pdu: Pdu) -> Response:
        """Send a request and wait for its answer (raises if the link goes or times out)."""
        assert self.session is not None
        sent = self.session.send(pdu, now=self.loop.time())
        waiter: asyncio.Future[Response] = self.loop.create_future()
        self._waiters[sent.sequence_number] = waiter
        self._flush()
        return await waiter


class _Batch:
    """What one read (or one timer tick) produced: events for the sink, PDUs to answer after."""

    __slots__ = ("events", "keys", "pdus", "receipts", "records")

    def __init__(self) -> None:
        self.events: list[InboundEvent] = []
        # Answered after the sink: the ordinary deliver_sm as records, the rest as PDUs.
        self.records: list[DeliverSmRecord] = []
        self.pdus: list[Pdu] = []
        self.keys: list[ReassemblyKey] = []
        self.receipts = 0  # how many of ``events`` are receipts (counted for the stats)
