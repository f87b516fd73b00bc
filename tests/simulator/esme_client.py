"""A tiny ESME for tests: our own sans-I/O session over a real loopback socket.

    client = await EsmeClient.connect(port)
    await client.bind("receiver", "esme", "secret")
    pdu = await client.next_deliver()

Every deliver_sm is answered as ``ack`` says: a status (0 acks), None (never
answered), or a function of the PDU returning either. Requests the test sends
are awaited by sequence number. Nothing here sleeps: every wait is on an event
with a timeout.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

from smslocker.simulator import Simulator
from smslocker.smpp.codec import encode
from smslocker.smpp.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    EnquireLink,
    Pdu,
)
from smslocker.smpp.session import Session, SessionConfig
from smslocker.smpp.session_events import (
    ConnectionBroken,
    Event,
    Response,
    Unbound,
    UnexpectedResponse,
)
from smslocker.smpp.states import Role

Ack = int | None | Callable[[DeliverSm], int | None]
# The fixtures of conftest.py, typed (tests import these names from here, never from
# conftest: pytest drops "conftest" from sys.modules between directories).
Connect = Callable[..., Awaitable["EsmeClient"]]
MakeSimulator = Callable[..., Awaitable[Simulator]]

BINDS: dict[str, type[BindReceiver | BindTransmitter | BindTransceiver]] = {
    "receiver": BindReceiver,
    "transmitter": BindTransmitter,
    "transceiver": BindTransceiver,
}


class EsmeClient(asyncio.Protocol):
    """One ESME connection. See the module docstring."""

    def __init__(self, ack: Ack = 0, window: int = 10) -> None:
        self.loop = asyncio.get_running_loop()
        self.session = Session(
            Role.ESME,
            SessionConfig(window=window, response_timeout=60.0, enquire_link_interval=None),
            now=self.loop.time(),
        )
        self.ack = ack
        self.transport: asyncio.Transport | None = None
        self.received: list[DeliverSm] = []
        self.events: list[Event] = []
        self.raw = bytearray()
        self.broken = False
        self.unbound: asyncio.Future[Unbound] = self.loop.create_future()
        self.closed: asyncio.Future[None] = self.loop.create_future()
        self._deliveries: asyncio.Queue[DeliverSm] = asyncio.Queue()
        self._waiters: dict[int, asyncio.Future[Response]] = {}
        self._raw_waiters: dict[int, asyncio.Future[Pdu]] = {}

    @classmethod
    async def connect(
        cls,
        port: int,
        host: str = "127.0.0.1",
        *,
        ack: Ack = 0,
        window: int = 10,
        ssl_context: ssl.SSLContext | None = None,
    ) -> EsmeClient:
        loop = asyncio.get_running_loop()
        _transport, client = await loop.create_connection(
            lambda: cls(ack, window),
            host,
            port,
            ssl=ssl_context,
            server_hostname="localhost" if ssl_context else None,
        )
        return client

    # -- talking -------------------------------------------------------------------

    async def bind(
        self,
        kind: str = "transceiver",
        system_id: str = "esme",
        password: str = "secret",
        *,
        address_range: str = "",
        timeout: float = 5.0,
    ) -> Response:
        pdu = BINDS[kind](system_id=system_id, password=password, address_range=address_range)
        return await self.request(pdu, timeout=timeout)

    async def request(self, pdu: Pdu, *, timeout: float = 5.0) -> Response:
        sent = self.session.send(pdu, now=self.loop.time())
        waiter: asyncio.Future[Response] = self.loop.create_future()
        self._waiters[sent.sequence_number] = waiter
        self._flush()
        try:
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._waiters.pop(sent.sequence_number, None)

    async def sync(self) -> None:
        """A round trip (enquire_link): everything sent before it has been read."""
        assert (await self.request(EnquireLink())).ok

    async def request_raw(self, pdu: Pdu, *, timeout: float = 5.0) -> Pdu:
        """Send ``pdu`` as is, behind the session's back (for requests the session
        would refuse to send, such as a second bind); return the answer."""
        waiter: asyncio.Future[Pdu] = self.loop.create_future()
        self._raw_waiters[pdu.sequence_number] = waiter
        assert self.transport is not None
        self.transport.write(encode(pdu))
        return await asyncio.wait_for(waiter, timeout)

    async def unbind(self, *, timeout: float = 5.0) -> None:
        self.session.unbind(now=self.loop.time())
        self._flush()
        await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    async def next_deliver(self, *, timeout: float = 5.0) -> DeliverSm:
        return await asyncio.wait_for(self._deliveries.get(), timeout)

    async def deliveries(self, count: int, *, timeout: float = 5.0) -> list[DeliverSm]:
        async with asyncio.timeout(timeout):
            return [await self._deliveries.get() for _ in range(count)]

    def pending_deliveries(self) -> int:
        return self._deliveries.qsize()

    def respond(self, pdu: Pdu, status: int = 0) -> None:
        """Answer a deliver_sm by hand (for ``ack=None`` clients)."""
        self.session.respond(pdu, status, now=self.loop.time())
        self._flush()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def wait_closed(self, timeout: float = 5.0) -> None:
        await asyncio.wait_for(asyncio.shield(self.closed), timeout)

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.session.connection_lost()
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.raw += data
        for event in self.session.receive_data(data, now=self.loop.time()):
            if isinstance(event, DeliverSm):
                self.received.append(event)
                status = self.ack(event) if callable(self.ack) else self.ack
                if status is not None:
                    self.session.respond(event, status, now=self.loop.time())
                self._deliveries.put_nowait(event)
                continue
            self.events.append(event)
            if isinstance(event, Response):
                waiter = self._waiters.get(event.request.sequence_number)
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
            elif isinstance(event, UnexpectedResponse):
                raw_waiter = self._raw_waiters.pop(event.pdu.sequence_number, None)
                if raw_waiter is not None and not raw_waiter.done():
                    raw_waiter.set_result(event.pdu)
            elif isinstance(event, Unbound):
                if not self.unbound.done():
                    self.unbound.set_result(event)
                self.loop.call_soon(self.close)  # after the unbind_resp is written
            elif isinstance(event, ConnectionBroken):
                self.broken = True
                self.loop.call_soon(self.close)
        self._flush()

    def _flush(self) -> None:
        data = self.session.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)
