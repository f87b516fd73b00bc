"""A connector: one carrier bind kept alive for as long as it runs.

Theory of operation: :meth:`Connector.run` loops connect → bind → serve until
stopped.  Any loss (refused connection, bind refused, stale link, unbind by the
SMSC, ghost session) ends one round; the next starts after an exponential
backoff with jitter, capped, and reset once a bind has held for a while.
:meth:`Connector.stop` unbinds gracefully.  What arrives goes to the sink
through :class:`~.protocol.EsmeProtocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from smslocker.log import get_logger
from smslocker.smpp.concat import Reassembler
from smslocker.smpp.pdu import Pdu
from smslocker.smpp.session_events import Response

from .config import ConnectorConfig
from .inbound import InboundDecoder
from .messages import RecallingSink, Sink
from .protocol import EsmeProtocol

log = get_logger(__name__)

#: A bind that held this long counts as healthy: the backoff starts again from the beginning.
STABLE_AFTER = 30.0


class ConnectorState(StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    BOUND = "bound"
    RECONNECTING = "reconnecting"
    STOPPING = "stopping"


@dataclass
class ConnectorStats:
    """Counters for metrics and the operator's console."""

    messages: int = 0
    receipts: int = 0
    acked: int = 0
    nacked: int = 0
    throttled: int = 0
    rejected: int = 0
    sink_errors: int = 0
    binds: int = 0
    reconnects: int = 0
    last_error: str | None = None
    bound_since: float | None = None
    extra: dict[str, int] = field(default_factory=dict)


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random) -> float:
    """Delay before reconnect ``attempt`` (0-based): exponential, capped, with jitter.

    "Equal jitter": half the delay is fixed so a flapping carrier is never hammered,
    half is random so that many gateways do not reconnect in step.
    """
    delay = min(cap, initial * 2 ** min(attempt, 32))
    return float(delay / 2 + rng.uniform(0, delay / 2))


class Connector:
    """Keeps one bind to one SMSC and feeds a sink. See the module docstring."""

    def __init__(self, config: ConnectorConfig, sink: Sink, *, rng: random.Random | None = None):
        self.config = config
        self.sink = sink
        self.state = ConnectorState.STOPPED
        self.stats = ConnectorStats()
        self._rng = rng or random.Random()
        self._reassembler = Reassembler(timeout=config.reassembly_timeout, packed=config.packed_gsm)
        self._decoder = InboundDecoder(config.name, self._reassembler, packed=config.packed_gsm)
        self._protocol: EsmeProtocol | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._bound_event = asyncio.Event()
        self._throttle_next = 0.0
        self._window: asyncio.Semaphore | None = None
        self._recalled = False

    # -- life cycle --------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run the connector in the background; returns its task."""
        if self._task is None or self._task.done():
            self._stopping.clear()
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name=f"connector:{self.config.name}"
            )
        return self._task

    async def run(self) -> None:
        """Connect, bind and serve until :meth:`stop`, reconnecting after every loss."""
        attempt = 0
        loop = asyncio.get_running_loop()
        if not self._recalled:
            self._recalled = True
            await self._recall(loop.time())
        while not self._stopping.is_set():
            self.state = ConnectorState.CONNECTING
            started = loop.time()
            try:
                await self._serve_once()
            except (OSError, TimeoutError, ConnectionError) as error:
                self.stats.last_error = f"{type(error).__name__}: {error}"
                log.warning(
                    "connector.down", connector=self.config.name, error=self.stats.last_error
                )
            if self._stopping.is_set():
                break
            if self.stats.bound_since is not None and loop.time() - started >= STABLE_AFTER:
                attempt = 0
            self.stats.bound_since = None
            self._bound_event.clear()
            self.state = ConnectorState.RECONNECTING
            self.stats.reconnects += 1
            delay = backoff_delay(
                attempt, self.config.reconnect_initial, self.config.reconnect_max, self._rng
            )
            attempt += 1
            log.info("connector.reconnect", connector=self.config.name, delay=round(delay, 2))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        self.state = ConnectorState.STOPPED

    async def _recall(self, now: float) -> None:
        """Tell the reassembler of the long messages the sink stored lately (another
        process may have stored them and crashed before acknowledging every part)."""
        sink = self.sink
        if not isinstance(sink, RecallingSink):
            return
        try:
            marks = await sink.recall(self.config.name, self.config.reassembly_timeout)
        except Exception as error:  # the old behaviour, not an outage: see Reassembler.recall
            log.warning("connector.recall_failed", connector=self.config.name, error=repr(error))
            return
        for mark in marks:
            self._reassembler.recall(mark, now)
        if marks:
            log.info("connector.recalled", connector=self.config.name, long_messages=len(marks))

    async def _serve_once(self) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        protocol_box: list[EsmeProtocol] = []

        def factory() -> EsmeProtocol:
            protocol = EsmeProtocol(self, self._decoder, self.sink)
            protocol_box.append(protocol)
            return protocol

        deadline = loop.time() + config.connect_timeout
        async with asyncio.timeout_at(deadline):
            await loop.create_connection(factory, config.host, config.port, ssl=self._ssl_context())
        protocol = protocol_box[0]
        self._protocol = protocol
        try:
            # The wait for bind_resp is inside the try, so that when connect_timeout expires
            # here the finally closes the connection. It used to stay open (until the
            # response timer) while the next round opened another one.
            async with asyncio.timeout_at(deadline):
                waiting: list[asyncio.Future[Any]] = [protocol.bound, protocol.closed]
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if protocol.bound.done() and protocol.bound.exception() is None:
                bound = protocol.bound.result()
                self.state = ConnectorState.BOUND
                self.stats.binds += 1
                self.stats.bound_since = loop.time()
                self._window = asyncio.Semaphore(config.window)
                self._bound_event.set()
                log.info(
                    "connector.bound",
                    connector=config.name,
                    bind=config.bind.value,
                    smsc=bound.system_id,
                    smsc_version=hex(bound.interface_version),
                )
            reason = await protocol.closed
            if reason is not None:
                raise ConnectionError(f"connection lost: {reason}")
            # This round's own reason, not stats.last_error: that may be stale (a sink error
            # from long before an SMSC hang-up), and run() prefixes it again each round
            # ("ConnectionError: ConnectionError: ... sink: ...").
            if self.state is ConnectorState.BOUND and not self._stopping.is_set():
                raise ConnectionError(protocol.close_reason or "the SMSC closed the connection")
            if not protocol.bound.done() or protocol.bound.exception() is not None:
                raise ConnectionError(protocol.close_reason or "bind failed")
        finally:
            self._protocol = None
            protocol.close("round over")

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.config.tls:
            return None
        context = ssl.create_default_context(cafile=self.config.tls_ca_file)
        if not self.config.tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def stop(self, timeout: float = 5.0) -> None:
        """Unbind gracefully (SMPP.md §11.8) and stop; acks still owed go out first."""
        self._stopping.set()
        self.state = ConnectorState.STOPPING
        protocol = self._protocol
        if protocol is not None:
            if protocol._tasks:
                # Let in-flight sink calls finish, so their PDUs are acked rather than redelivered.
                await asyncio.wait(list(protocol._tasks), timeout=timeout)
            protocol.unbind()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(protocol.closed), timeout)
            protocol.close("stopped")
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout)
            except TimeoutError:
                self._task.cancel()
        self.state = ConnectorState.STOPPED

    async def wait_bound(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._bound_event.wait(), timeout)

    # -- sending -----------------------------------------------------------------

    async def submit(self, pdu: Pdu) -> Response:
        """Send a request (submit_sm, query_sm, ...) under the window and the throttle."""
        await self.wait_bound()
        assert self._window is not None
        async with self._window:
            await self._throttle()
            protocol = self._protocol
            if protocol is None:
                raise ConnectionError("not bound")
            return await protocol.request(pdu)

    async def _throttle(self) -> None:
        rate = self.config.throttle
        if rate is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._throttle_next)
        self._throttle_next = slot + 1.0 / rate
        if slot > now:
            await asyncio.sleep(slot - now)
