"""The load generator: N deliver_sm at R per second over M destination numbers.

It has to outpace the fastest receiver we measure (~300k msg/s), so the hot
path builds no PDU objects: one deliver_sm per destination number is encoded
once, the encodings are laid end to end in a ring, and a burst is one slice of
the ring with the sequence numbers patched in by ``struct.pack_into`` — one
buffer, one write. Acks are counted straight from the response headers that
the connection's :class:`PduBuffer` splits out; the session state machine never
sees them (it still handles the bind and everything else on the link, so
enquire_link and normal MO traffic keep working during a run).

Load PDUs take sequence numbers from :data:`LOAD_SEQUENCE_BASE` up, far above
what the session allocates, which is how their answers are told apart.
Each connection keeps at most ``window`` load PDUs unanswered and is refilled
as answers arrive; a ``rate`` above zero also caps the total sent so far at
``rate * elapsed`` (a token bucket with a burst of one).
"""

from __future__ import annotations

import asyncio
import json
import struct
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from smslocker.smpp.codec import encode
from smslocker.smpp.constants import MAX_SEQUENCE_NUMBER, CommandId
from smslocker.smpp.framing import RawPdu
from smslocker.smpp.pdu import DeliverSm

from .compose import address, mo_parts
from .connection import SmscConnection

LOAD_SEQUENCE_BASE = 0x40000000
DEFAULT_TEXT = "Your verification code is 482913"
DEFAULT_SOURCE = "447700900000"
_DESTINATION_PREFIX = "4479"
_MAX_BURST = 4096
_DELIVER_SM_RESP = CommandId.DELIVER_SM_RESP
_SEQUENCE = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class LoadReport:
    """What a load run did. ``rate`` is acked messages per second of ``elapsed_s``."""

    count: int
    sent: int
    acked: int
    nacked: int
    lost: int
    """Sent, but the connection closed before they were answered."""
    elapsed_s: float
    """From the first deliver_sm written to the last answer read."""
    rate: float
    cpu_s: float
    """CPU time (user + system) this process spent over ``elapsed_s``."""
    window: int
    numbers: int
    sessions: int

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def destination_numbers(count: int) -> list[str]:
    """``count`` distinct numbers of equal length, so every template has one size."""
    width = max(7, len(str(count - 1)))
    return [f"{_DESTINATION_PREFIX}{index:0{width}d}" for index in range(count)]


class _Link:
    """One connection's share of a run: implements the connection's LoadHook."""

    __slots__ = ("connection", "outstanding", "run", "sequence")

    def __init__(self, run: LoadRun, connection: SmscConnection) -> None:
        self.run = run
        self.connection = connection
        self.outstanding = 0
        self.sequence = LOAD_SEQUENCE_BASE

    def take_acks(self, pdus: list[RawPdu]) -> list[RawPdu]:
        acked = nacked = 0
        rest: list[RawPdu] = []
        for pdu in pdus:
            if pdu[0] == _DELIVER_SM_RESP and pdu[2] >= LOAD_SEQUENCE_BASE:
                if pdu[1]:
                    nacked += 1
                else:
                    acked += 1
            else:
                rest.append(pdu)
        if acked or nacked:
            self.outstanding -= acked + nacked
            self.run.answered(self, acked, nacked)
        return rest

    def connection_lost(self, connection: SmscConnection) -> None:
        self.run.lost_link(self)


class LoadRun:
    """One run over a fixed set of bound connections. Await :meth:`run`."""

    def __init__(
        self,
        connections: Sequence[SmscConnection],
        count: int,
        *,
        rate: float = 0.0,
        numbers: int = 1,
        window: int = 100,
        text: str = DEFAULT_TEXT,
        source: str = DEFAULT_SOURCE,
    ) -> None:
        if count < 0 or numbers < 1 or window < 1 or rate < 0:
            raise ValueError("count ≥ 0, numbers ≥ 1, window ≥ 1 and rate ≥ 0 are required")
        self.count = count
        self.rate = rate
        self.window = window
        self.numbers = numbers
        self.sent = self.acked = self.nacked = self.lost = 0
        self._loop = asyncio.get_running_loop()
        self._links = [_Link(self, connection) for connection in connections]
        self._done: asyncio.Future[None] = self._loop.create_future()
        self._wakeup: asyncio.TimerHandle | None = None
        self._started = self._finished = 0.0
        self._cpu_started = self._cpu_finished = 0.0
        self._burst = min(window, _MAX_BURST)
        self._ring, self._size = self._templates(text, source, numbers)

    def _templates(self, text: str, source: str, numbers: int) -> tuple[bytes, int]:
        sample = mo_parts(source, "0", text, None, "udh8", 0)[1]
        if len(sample) != 1:
            raise ValueError("the load text must fit in one SMS")
        template = sample[0]
        encodings = []
        for number in destination_numbers(numbers):
            destination_addr, ton, npi = address(number)
            pdu = DeliverSm(
                source_addr=template.source_addr,
                source_addr_ton=template.source_addr_ton,
                source_addr_npi=template.source_addr_npi,
                destination_addr=destination_addr,
                dest_addr_ton=ton,
                dest_addr_npi=npi,
                data_coding=template.data_coding,
                short_message=template.short_message,
            )
            encodings.append(encode(pdu))
        size = len(encodings[0])
        ring = b"".join(encodings)
        # Repeated so that any burst starting at any number is one contiguous slice.
        repeats = 1 + -(-self._burst // numbers)
        return ring * repeats, size

    async def run(self, timeout: float | None = None) -> LoadReport:
        """Send, wait for every answer (or ``timeout``), and report."""
        for link in self._links:
            if link.connection.load is not None:
                raise RuntimeError(f"{link.connection.name} already runs a load")
        for link in self._links:
            link.connection.load = link
        self._cpu_started = time.process_time()
        self._started = time.perf_counter()
        try:
            if self.count and self._links:
                self._fill_all()
                await asyncio.wait_for(asyncio.shield(self._done), timeout)
        except TimeoutError:
            pass
        finally:
            if not self._finished:
                self._finish()
            for link in self._links:
                if link.connection.load is link:
                    link.connection.load = None
        elapsed = self._finished - self._started
        return LoadReport(
            count=self.count,
            sent=self.sent,
            acked=self.acked,
            nacked=self.nacked,
            lost=self.lost,
            elapsed_s=elapsed,
            rate=self.acked / elapsed if elapsed > 0 else 0.0,
            cpu_s=self._cpu_finished - self._cpu_started,
            window=self.window,
            numbers=self.numbers,
            sessions=len(self._links),
        )

    # -- called by the links -------------------------------------------------------------

    def answered(self, link: _Link, acked: int, nacked: int) -> None:
        self.acked += acked
        self.nacked += nacked
        if self.acked + self.nacked + self.lost >= self.count:
            self._finish()
        elif self.sent < self.count:
            self._fill(link)

    def lost_link(self, link: _Link) -> None:
        self.lost += link.outstanding
        link.outstanding = 0
        if link in self._links:
            self._links.remove(link)
        if not self._links or self.acked + self.nacked + self.lost >= self.count:
            self._finish()

    # -- sending ----------------------------------------------------------------------------

    def _fill_all(self) -> None:
        self._wakeup = None
        for link in self._links:
            if self.sent >= self.count:
                break
            self._fill(link)

    def _fill(self, link: _Link) -> None:
        if self._finished:
            return
        burst = min(self.window - link.outstanding, self.count - self.sent, self._burst)
        if self.rate:
            elapsed = time.perf_counter() - self._started
            burst = min(burst, int(self.rate * elapsed) + 1 - self.sent)
            if burst <= 0:
                self._wake_at_next_token()
                return
        if burst <= 0:
            return
        size = self._size
        start = (self.sent % self.numbers) * size
        buffer = bytearray(self._ring[start : start + burst * size])
        sequence = link.sequence
        if sequence + burst > MAX_SEQUENCE_NUMBER:
            sequence = LOAD_SEQUENCE_BASE
        pack_into = _SEQUENCE.pack_into
        for offset in range(12, burst * size, size):
            pack_into(buffer, offset, sequence)
            sequence += 1
        link.sequence = sequence
        link.outstanding += burst
        self.sent += burst
        link.connection.write(buffer)

    def _wake_at_next_token(self) -> None:
        if self._wakeup is None:
            delay = (self.sent / self.rate) - (time.perf_counter() - self._started)
            self._wakeup = self._loop.call_later(max(delay, 0.0), self._fill_all)

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = time.perf_counter()
        self._cpu_finished = time.process_time()
        if self._wakeup is not None:
            self._wakeup.cancel()
        if not self._done.done():
            self._done.set_result(None)
