"""A small scriptable SMSC on loopback, for the connector's tests (STYLE.md habits 7 and 8).

Built on the sans-I/O :class:`~smslocker.smpp.session.Session` in the SMSC role; a test
drives it instead of mocking the connector's I/O:

- binds are accepted, refused with a chosen status, or never answered (``bind_policy``);
- ``deliver(...)`` pushes deliver_sm/data_sm PDUs on the bound connection, all in one write;
  ``send_raw(...)`` writes any octets (unknown commands, broken TLVs, garbage);
- everything the ESME sends is recorded as it arrived (:class:`Received`: the connection,
  the ``data_received`` call it came in, the loop time), so a test can check which PDUs
  were answered, with which status, when, and in how many writes;
- misbehaviours: ``drop_answers`` (e.g. ignore enquire_link), ``answer_requests=False``
  (submit_sm/query_sm never answered), ``unbind()``, ``abort()`` (close abruptly),
  ``outbind_before_bind_resp``;
- store and forward (``queue(...)``): a queue of tagged MO parts delivered within a window
  to whichever connection is bound, and redelivered when answered with an error or when
  their connection is lost before the answer — as a real SMSC does, so that a test can
  check that nothing is lost (DESIGN.md, guarantee 1).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from smslocker.smpp.codec import decode_body, encode
from smslocker.smpp.errors import DecodeError, FramingError
from smslocker.smpp.framing import PduBuffer
from smslocker.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DeliverSm,
    EnquireLink,
    Outbind,
    Pdu,
    QuerySm,
    SubmitSm,
    Unbind,
    UnknownPdu,
)
from smslocker.smpp.session import Session, SessionConfig
from smslocker.smpp.session_events import Response, Unbound, UnexpectedResponse
from smslocker.smpp.states import Role

_BINDS = (BindReceiver, BindTransceiver, BindTransmitter)

#: bind number (0-based, counted over all connections) and the bind -> status, or None: no answer
BindPolicy = Callable[[int, Pdu], int | None]


def accept_all(_number: int, _bind: Pdu) -> int | None:
    return 0


@dataclass(frozen=True, slots=True)
class Received:
    """One PDU the ESME sent, as the fake SMSC read it."""

    index: int  # position in FakeSmsc.received
    connection: int  # FakeSmsc.connections index
    chunk: int  # which data_received call of that connection brought its last octet
    at: float  # loop time
    pdu: Pdu

    @property
    def command_id(self) -> int:
        pdu = self.pdu
        return pdu.unknown_command_id if isinstance(pdu, UnknownPdu) else pdu.command_id

    @property
    def status(self) -> int:
        return self.pdu.command_status

    @property
    def sequence_number(self) -> int:
        return self.pdu.sequence_number


@dataclass(frozen=True, slots=True)
class Sent:
    """One request the fake SMSC wrote (sequence_number as assigned by its session)."""

    connection: int
    pdu: Pdu
    at: float


class SmscConnection(asyncio.Protocol):
    """One ESME connection to the fake SMSC."""

    def __init__(self, smsc: FakeSmsc, number: int) -> None:
        self.smsc = smsc
        self.number = number
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.session = Session(
            Role.SMSC,
            SessionConfig(
                window=100_000,
                response_timeout=3600.0,
                enquire_link_interval=None,
                session_init_timeout=None,
            ),
            now=self.loop.time(),
        )
        self._recorder = PduBuffer()
        self.chunks = 0
        self.opened_at = self.loop.time()
        self.closed_at: float | None = None
        self.bound = False
        self.bound_once = False
        self.writes = 0

    # -- asyncio callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_at = self.loop.time()
        self.bound = False
        self.smsc._connection_lost(self)

    def data_received(self, data: bytes) -> None:
        self.chunks += 1
        now = self.loop.time()
        self._record(data, now)
        for event in self.session.receive_data(data, now=now):
            self.smsc._on_event(self, event)
        self.flush()

    # -- helpers -----------------------------------------------------------------

    @property
    def open(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def _record(self, data: bytes, now: float) -> None:
        try:
            raw_pdus = self._recorder.feed(data)
        except FramingError:
            return
        for command_id, status, sequence_number, body in raw_pdus:
            try:
                pdu = decode_body(command_id, status, sequence_number, body)
            except DecodeError:
                pdu = UnknownPdu(
                    sequence_number=sequence_number,
                    command_status=status,
                    unknown_command_id=command_id,
                    body=body,
                )
            self.smsc.received.append(
                Received(len(self.smsc.received), self.number, self.chunks, now, pdu)
            )

    def flush(self) -> None:
        data = self.session.data_to_send()
        if not data or not self.open:
            return
        drop = self.smsc.drop_answers
        if drop:
            data = b"".join(pdu for pdu in _split(data) if _command_id(pdu) not in drop)
        if data:
            assert self.transport is not None
            self.transport.write(data)
            self.writes += 1

    def send(self, pdus: Iterable[Pdu]) -> list[Pdu]:
        """Send requests (sequence numbers assigned here) in one write."""
        now = self.loop.time()
        sent = []
        for pdu in pdus:
            out = self.session.send(pdu, now=now)
            sent.append(out)
            self.smsc.sent.append(Sent(self.number, out, now))
        self.flush()
        return sent

    def write_raw(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)
        self.writes += 1


def _split(data: bytes) -> list[bytes]:
    pdus, position = [], 0
    while position + 4 <= len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        pdus.append(data[position : position + length])
        position += length
    return pdus


def _command_id(pdu: bytes) -> int:
    return int.from_bytes(pdu[4:8], "big")


class FakeSmsc:
    """A scriptable SMSC server on 127.0.0.1; see the module docstring."""

    def __init__(
        self,
        *,
        system_id: str = "fakesmsc",
        bind_policy: BindPolicy = accept_all,
        answer_requests: bool = True,
        drop_answers: Iterable[int] = (),
        outbind_before_bind_resp: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        window: int = 50,
        redeliver_delay: float = 0.02,
    ) -> None:
        self.system_id = system_id
        self.bind_policy = bind_policy
        self.answer_requests = answer_requests
        self.drop_answers: set[int] = set(drop_answers)
        self.outbind_before_bind_resp = outbind_before_bind_resp
        self.ssl_context = ssl_context
        self.port = 0
        self.connections: list[SmscConnection] = []
        self.received: list[Received] = []
        self.sent: list[Sent] = []
        self.binds: list[Pdu] = []
        self.submits: list[Pdu] = []
        self._server: asyncio.Server | None = None
        # Store and forward: tagged PDUs, waiting or in flight; what was acked, how often.
        self.window = window
        self.redeliver_delay = redeliver_delay
        self._queue: deque[tuple[str, Pdu]] = deque()
        self._in_flight: dict[tuple[int, int], tuple[str, Pdu]] = {}
        self.acked: Counter[str] = Counter()
        self.acked_at: dict[str, float] = {}  # tag -> loop time of its first ack
        self.deliveries: Counter[str] = Counter()
        self.nacks: Counter[int] = Counter()
        self._requeues = 0

    # -- life cycle ----------------------------------------------------------------

    async def start(self) -> FakeSmsc:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._new_connection, "127.0.0.1", 0, ssl=self.ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks run

    async def __aenter__(self) -> FakeSmsc:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    def _new_connection(self) -> SmscConnection:
        connection = SmscConnection(self, len(self.connections))
        self.connections.append(connection)
        return connection

    # -- what the ESME did ---------------------------------------------------------

    def of_type(self, command_id: int, connection: int | None = None) -> list[Received]:
        """Received PDUs with ``command_id`` (on one connection if given), in arrival order."""
        return [
            item
            for item in self.received
            if item.command_id == command_id
            and (connection is None or item.connection == connection)
        ]

    def answers_to(self, sent: Iterable[Pdu], connection: int) -> list[Received]:
        """Responses (or generic_nacks) to PDUs we sent on ``connection``, in arrival order."""
        sequences = {pdu.sequence_number for pdu in sent}
        return [
            item
            for item in self.received
            if item.connection == connection
            and item.command_id & 0x80000000
            and item.sequence_number in sequences
        ]

    @property
    def bound_count(self) -> int:
        """Connections that were bound (binds answered with success) so far."""
        return sum(1 for connection in self.connections if connection.bound_once)

    @property
    def current(self) -> SmscConnection:
        """The newest connection that is bound and open."""
        for connection in reversed(self.connections):
            if connection.bound and connection.open:
                return connection
        raise AssertionError("no bound connection")

    def has_bound_connection(self) -> bool:
        return any(connection.bound and connection.open for connection in self.connections)

    # -- pushing traffic -------------------------------------------------------------

    def deliver(self, *pdus: Pdu, connection: SmscConnection | None = None) -> list[Pdu]:
        """Send deliver_sm/data_sm (or any request) in one write; returns them as sent."""
        return (connection or self.current).send(pdus)

    def send_raw(self, data: bytes, connection: SmscConnection | None = None) -> None:
        (connection or self.current).write_raw(data)

    async def ping(self, connection: SmscConnection | None = None, timeout: float = 2.0) -> None:
        """An enquire_link round trip: everything the ESME wrote before its answer has arrived.

        The ESME answers on one ordered stream, so an ack it had already written (an ack
        sent too early, say) is recorded before this returns.
        """
        connection = connection or self.current
        (request,) = connection.send([EnquireLink()])
        async with asyncio.timeout(timeout):
            while True:
                if self.answers_to([request], connection.number):
                    return
                await asyncio.sleep(0.002)

    def unbind(self, connection: SmscConnection | None = None) -> Pdu:
        """Send unbind; the connection closes once the ESME answers it."""
        (unbind,) = (connection or self.current).send([Unbind()])
        return unbind

    def hang_up(self, connection: SmscConnection | None = None) -> None:
        """Close the connection cleanly (FIN), without unbind."""
        connection = connection or self.current
        assert connection.transport is not None
        connection.transport.close()

    def abort(self, connection: SmscConnection | None = None) -> None:
        """Close abruptly (RST), no unbind."""
        connection = connection or self.current
        assert connection.transport is not None
        connection.transport.abort()

    # -- store and forward -------------------------------------------------------------

    def queue(self, items: Iterable[tuple[str, Pdu]]) -> None:
        """Tagged PDUs to deliver until each is acked with status 0 (see the module doc)."""
        self._queue.extend(items)
        self._pump()

    @property
    def drained(self) -> bool:
        """Every queued PDU was acked: none waiting, in flight, or about to be redelivered."""
        return not self._queue and not self._in_flight and not self._requeues

    def _pump(self) -> None:
        if not self._queue or len(self._in_flight) >= self.window:
            return
        connection = next(
            (c for c in reversed(self.connections) if c.bound and c.open and c.session.bound),
            None,
        )
        if connection is None:
            return
        batch = []
        while self._queue and len(self._in_flight) + len(batch) < self.window:
            batch.append(self._queue.popleft())
        sent = connection.send(pdu for _tag, pdu in batch)
        for (tag, pdu), out in zip(batch, sent, strict=True):
            self._in_flight[connection.number, out.sequence_number] = (tag, pdu)
            self.deliveries[tag] += 1

    def _settle(self, connection: SmscConnection, sequence_number: int, status: int) -> None:
        entry = self._in_flight.pop((connection.number, sequence_number), None)
        if entry is None:
            return
        if status == 0:
            self.acked[entry[0]] += 1
            self.acked_at.setdefault(entry[0], connection.loop.time())
        else:
            self.nacks[status] += 1
            # A real SMSC waits before it retries a temporary failure.
            self._requeues += 1
            connection.loop.call_later(self.redeliver_delay, self._requeue_later, [entry])

    def _requeue_later(self, entries: list[tuple[str, Pdu]]) -> None:
        self._requeues -= 1
        self._requeue(entries)

    def _requeue(self, entries: list[tuple[str, Pdu]]) -> None:
        self._queue.extendleft(reversed(entries))
        self._pump()

    # -- session events ----------------------------------------------------------------

    def _on_event(self, connection: SmscConnection, event: object) -> None:
        now = connection.loop.time()
        if isinstance(event, _BINDS):
            self.binds.append(event)
            status = self.bind_policy(len(self.binds) - 1, event)
            if status is None:
                return  # never answered
            if self.outbind_before_bind_resp:
                connection.write_raw(encode(Outbind(system_id=self.system_id, password="")))
            connection.session.respond(event, status, now=now, system_id=self.system_id)
            if status == 0:
                connection.bound = True
                connection.bound_once = True
                connection.flush()
                connection.loop.call_soon(self._pump)
        elif isinstance(event, Response):
            if isinstance(event.request, DeliverSm | DataSm):
                self._settle(connection, event.request.sequence_number, event.pdu.command_status)
                self._pump()
        elif isinstance(event, UnexpectedResponse):
            pass  # recorded already; answers to send_raw requests land here
        elif isinstance(event, Unbound):
            # Either side asked: the unbind_resp (if ours to send) goes first, then close.
            connection.bound = False
            connection.flush()
            if connection.transport is not None:
                connection.transport.close()
        elif isinstance(event, SubmitSm | QuerySm | DataSm):
            self.submits.append(event)
            if self.answer_requests:
                message_id = (
                    event.message_id if isinstance(event, QuerySm) else f"m{len(self.submits)}"
                )
                connection.session.respond(event, 0, now=now, message_id=message_id)

    def _connection_lost(self, connection: SmscConnection) -> None:
        lost = [key for key in self._in_flight if key[0] == connection.number]
        if lost:
            entries = [self._in_flight.pop(key) for key in sorted(lost, key=lambda k: k[1])]
            self._requeue(entries)
        else:
            self._pump()


def with_sequence(pdu: Pdu, sequence_number: int) -> Pdu:
    """``pdu`` with an explicit sequence number (for :meth:`FakeSmsc.send_raw`)."""
    return replace(pdu, sequence_number=sequence_number)
