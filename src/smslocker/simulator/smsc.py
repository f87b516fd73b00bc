"""The simulated SMSC: a listening socket and the public API (DESIGN.md, part ``simulator``).

ESMEs bind to it over SMPP 3.4 (optionally TLS); tests, benchmarks, the demo
and operators inject mobile-originated messages through :meth:`Simulator.inject_mo`
(directly, or through the HTTP API and CLI, which call nothing else), watch
what happened to them, switch misbehaviour modes, and run the load generator.

    async with Simulator(SimulatorConfig(port=0, accounts=(Account("me", "pw"),))) as smsc:
        message_id = smsc.inject_mo("+447700900123", "447700900456", "Your code is 1234")
        ...

Every method runs on the event loop that started the simulator.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from types import TracebackType

from smslocker.log import get_logger
from smslocker.smpp.concat import SplitMethod

from .behaviour import Mode, ModeSettings
from .compose import SPLIT_METHODS, mo_parts
from .connection import SmscConnection
from .core import SimulatorConfig, SmscCore
from .errors import InvalidRequest, NoReceiver, SimulatorError
from .loadgen import DEFAULT_TEXT, LoadReport, LoadRun
from .messages import Delivery, DeliveryState, Message, MessageKind
from .views import MessageStatus, SessionStatus, SimulatorStats

log = get_logger(__name__)


class Simulator:
    """An SMSC that ESMEs bind to. See the module docstring."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._core: SmscCore | None = None
        self._server: asyncio.Server | None = None
        self._reference = random.randrange(0x10000)

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Listen for ESMEs on ``config.host``:``config.port``."""
        if self._server is not None:
            raise SimulatorError("the simulator is already running")
        loop = asyncio.get_running_loop()
        core = SmscCore(self.config)
        self._server = await loop.create_server(
            lambda: SmscConnection(core), self.config.host, self.config.port, ssl=self.config.ssl
        )
        self._core = core
        log.info(
            "simulator.listening", host=self.config.host, port=self.port, tls=bool(self.config.ssl)
        )

    async def stop(self, timeout: float = 2.0) -> None:
        """Unbind every session, wait up to ``timeout`` for the goodbyes, then cut the rest."""
        server, core = self._server, self._core
        if server is None or core is None:
            return
        server.close()
        connections = list(core.connections)
        for connection in connections:
            connection.unbind()
        waiting = [connection.closed for connection in connections]
        if waiting:
            _done, pending = await asyncio.wait(waiting, timeout=timeout)
            for connection in connections:
                if not connection.closed.done():
                    connection.abort("no goodbye in time")
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        core.dispatcher.close()
        await server.wait_closed()
        self._server = None
        log.info("simulator.stopped")

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        """The SMPP port listened on (the one picked when ``config.port`` is 0)."""
        if self._server is None or not self._server.sockets:
            raise SimulatorError("the simulator is not running")
        return int(self._server.sockets[0].getsockname()[1])

    def _running(self) -> SmscCore:
        if self._core is None:
            raise SimulatorError("the simulator is not started")
        return self._core

    # -- messages ------------------------------------------------------------------------

    def inject_mo(
        self,
        source: str,
        destination: str,
        text: str,
        data_coding: int | None = None,
        split: SplitMethod | None = None,
        shuffle: bool = False,
    ) -> str:
        """Queue an MO message from ``source`` to ``destination``; return its id.

        ``data_coding`` None picks GSM 03.38 when the text fits, else UCS2. A
        text too long for one SMS is cut with ``split`` (default ``"udh8"``);
        ``"payload"`` always sends one deliver_sm with message_payload.
        ``shuffle`` queues the parts out of order. Raises :class:`InvalidRequest`
        when the text or an address cannot be sent as asked.
        """
        core = self._running()
        method: SplitMethod = split or "udh8"
        if method not in SPLIT_METHODS:
            raise InvalidRequest(f"split must be one of {', '.join(SPLIT_METHODS)}, not {split!r}")
        if data_coding is not None and not 0 <= data_coding <= 0xFF:
            raise InvalidRequest(f"data_coding must be 0-255, not {data_coding}")
        self._reference = (self._reference + 1) & 0xFFFF
        reference = self._reference & 0xFF if method == "udh8" else self._reference
        coding, pdus = mo_parts(source, destination, text, data_coding, method, reference)
        message = Message(
            id=core.store.new_id(),
            kind=MessageKind.MO,
            source=source,
            destination=destination,
            text=text,
            data_coding=coding,
            split=split,
        )
        message.parts = [Delivery(message, number, pdu) for number, pdu in enumerate(pdus, 1)]
        order = list(message.parts)
        if shuffle and len(order) > 1:
            random.shuffle(order)
            if order == message.parts:  # "out of order" must mean it, even for two parts
                order.reverse()
        core.store.add(message)
        core.dispatcher.enqueue(order)
        log.info(
            "simulator.mo",
            message=message.id,
            destination=destination,
            parts=len(pdus),
            data_coding=coding,
        )
        return message.id

    def message(self, message_id: str) -> MessageStatus | None:
        """A message's state and attempts, or None if unknown (or long forgotten)."""
        message = self._running().store.get(message_id)
        return None if message is None else message.status()

    def messages(self) -> list[MessageStatus]:
        return [message.status() for message in self._running().store.values()]

    # -- sessions and modes ------------------------------------------------------------

    def sessions(self) -> list[SessionStatus]:
        """The bound sessions."""
        connections = sorted(self._running().connections, key=lambda c: c.number)
        return [c.status() for c in connections if c.bind_type is not None]

    async def wait_for_receiver(self, timeout: float | None = None, *, count: int = 1) -> None:
        """Return once ``count`` ESMEs are bound as receiver or transceiver.

        Raises TimeoutError after ``timeout`` seconds.
        """
        core = self._running()
        async with asyncio.timeout(timeout):
            while len(core.dispatcher.receivers) < count:
                core.receivers_changed.clear()
                await core.receivers_changed.wait()

    @property
    def mode(self) -> ModeSettings:
        return self._running().mode if self._core else self.config.mode

    def set_mode(
        self, mode: Mode | str, *, count: int | None = None, delay: float | None = None
    ) -> ModeSettings:
        """Switch misbehaviour for every connection, now and to come; see :mod:`.behaviour`."""
        core = self._running()
        try:
            settings = replace(core.mode, mode=Mode(mode))
        except ValueError:
            known = ", ".join(m.value for m in Mode)
            raise InvalidRequest(f"mode must be one of {known}, not {mode!r}") from None
        if count is not None:
            if count < 0:
                raise InvalidRequest("count must be 0 or more")
            settings = replace(settings, count=count)
        if delay is not None:
            if delay < 0:
                raise InvalidRequest("delay must be 0 or more")
            settings = replace(settings, delay=delay)
        core.set_mode(settings)
        return settings

    def stats(self) -> SimulatorStats:
        core = self._running()
        delivery = core.dispatcher.stats
        messages = core.store.values()
        return SimulatorStats(
            mode=core.mode.mode.value,
            connections=len(core.connections),
            bound_sessions=sum(1 for c in core.connections if c.bind_type is not None),
            binds=core.binds,
            bind_failures=core.bind_failures,
            messages=len(messages),
            queued=core.dispatcher.queued,
            in_flight=sum(
                1 for m in messages for p in m.parts if p.state is DeliveryState.IN_FLIGHT
            ),
            deliver_sm_sent=delivery.sent,
            acked=delivery.acked,
            nacked=delivery.nacked,
            timeouts=delivery.timeouts,
            lost=delivery.lost,
            redeliveries=delivery.redeliveries,
            failed=delivery.failed,
            submitted=core.loopback.submitted,
            receipts=core.loopback.receipts,
        )

    # -- load -------------------------------------------------------------------------------

    async def run_load(
        self,
        count: int,
        rate: float = 0.0,
        numbers: int = 1,
        window: int = 100,
        *,
        text: str = DEFAULT_TEXT,
        timeout: float | None = None,
    ) -> LoadReport:
        """Blast ``count`` deliver_sm at ``rate`` per second (0: flat out) over ``numbers``
        destinations to every bound receiver/transceiver, at most ``window`` unanswered
        per session; return the report once all are answered (or after ``timeout``).

        Raises :class:`NoReceiver` when no ESME is bound to receive.
        """
        core = self._running()
        connections = sorted(
            (c for c in core.connections if c.receives and c in core.dispatcher.receivers),
            key=lambda c: c.number,
        )
        if not connections:
            raise NoReceiver("no ESME is bound as receiver or transceiver")
        try:
            run = LoadRun(connections, count, rate=rate, numbers=numbers, window=window, text=text)
        except (ValueError, InvalidRequest) as error:
            raise InvalidRequest(str(error)) from None
        try:
            report = await run.run(timeout)
        except RuntimeError as error:
            raise SimulatorError(str(error)) from None
        log.info(
            "simulator.load",
            sent=report.sent,
            acked=report.acked,
            nacked=report.nacked,
            rate=round(report.rate),
        )
        return report
