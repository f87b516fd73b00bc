"""Shared pieces of the connector tests: a recording sink, PDU builders, a config, waiting.

The PDU builders write their octets by hand (ASCII, UCS2 as UTF-16BE, UDH headers) rather
than through :mod:`smslocker.smpp.text` or :func:`~smslocker.smpp.concat.split_message`,
so that the tests do not share a mistake with the code they test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smslocker.gateway import (
    BindType,
    Connector,
    ConnectorConfig,
    InboundEvent,
    InboundMessage,
    InboundReceipt,
)
from smslocker.smpp.pdu import DeliverSm, Tlv

HANDSET = "447700900123"
NUMBER = "447700900999"

#: Small timers so that every test finishes in a few seconds.
FAST_TIMERS: dict[str, Any] = {
    "connect_timeout": 2.0,
    "response_timeout": 0.3,
    "enquire_link_interval": 0.2,
    "ghost_timeout": None,
    "reconnect_initial": 0.05,
    "reconnect_max": 0.2,
    "part_ack_hold": 5.0,
    "reassembly_timeout": 30.0,
}


def make_config(port: int, **overrides: Any) -> ConnectorConfig:
    values: dict[str, Any] = {
        "name": "test-carrier",
        "host": "127.0.0.1",
        "port": port,
        "system_id": "smslocker",
        "password": "s3cret",
        "bind": BindType.RECEIVER,
        **FAST_TIMERS,
    }
    values.update(overrides)
    return ConnectorConfig(**values)


async def wait_until(predicate: Callable[[], object], timeout: float = 3.0) -> None:
    """Poll ``predicate`` until it is true; fails the test after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.003)
    except TimeoutError:
        raise AssertionError(f"condition not met within {timeout}s") from None


@contextlib.asynccontextmanager
async def running(connector: Connector, stop_timeout: float = 1.0) -> AsyncIterator[Connector]:
    """Run ``connector`` for the body of the ``with``, then stop it."""
    task = connector.start()
    try:
        yield connector
    finally:
        await connector.stop(timeout=stop_timeout)
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# --------------------------------------------------------------------------- sink


@dataclass(frozen=True)
class SinkCall:
    events: tuple[InboundEvent, ...]
    started: float
    ended: float | None
    failed: bool


class RecordingSink:
    """A sink that keeps every batch it was given, with the loop times of call and return.

    ``gate`` (set by default) holds every call until it is set; ``failures`` are raised by
    the next calls, one per call (an entry None lets that call succeed).
    """

    def __init__(self) -> None:
        self.calls: list[SinkCall] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures: list[BaseException | None] = []
        self.entered = 0

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.entered += 1
        failure = self.failures.pop(0) if self.failures else None
        try:
            await self.gate.wait()
            if failure is not None:
                raise failure
        except BaseException:
            self.calls.append(SinkCall(tuple(batch), started, loop.time(), failed=True))
            raise
        self.calls.append(SinkCall(tuple(batch), started, loop.time(), failed=False))

    @property
    def stored(self) -> list[InboundEvent]:
        """Events of the calls that returned (the ones the connector may ack)."""
        return [event for call in self.calls if not call.failed for event in call.events]

    @property
    def messages(self) -> list[InboundMessage]:
        return [event for event in self.stored if isinstance(event, InboundMessage)]

    @property
    def receipts(self) -> list[InboundReceipt]:
        return [event for event in self.stored if isinstance(event, InboundReceipt)]

    @property
    def last_return(self) -> float:
        ends = [call.ended for call in self.calls if call.ended is not None]
        assert ends, "the sink never returned"
        return max(ends)


# --------------------------------------------------------------------------- PDUs


def mo(
    text: str = "hello",
    *,
    source: str = HANDSET,
    destination: str = NUMBER,
    **fields: Any,
) -> DeliverSm:
    """A one-part MO deliver_sm: ASCII as data_coding 0, anything else as UCS2."""
    try:
        short_message, data_coding = text.encode("ascii"), 0x00
    except UnicodeEncodeError:
        short_message, data_coding = text.encode("utf-16-be"), 0x08
    values: dict[str, Any] = {
        "source_addr_ton": 1,
        "source_addr_npi": 1,
        "source_addr": source,
        "dest_addr_ton": 1,
        "dest_addr_npi": 1,
        "destination_addr": destination,
        "data_coding": data_coding,
        "short_message": short_message,
    }
    values.update(fields)
    return DeliverSm(**values)


def udh_parts(
    pieces: Sequence[str],
    reference: int,
    *,
    source: str = HANDSET,
    destination: str = NUMBER,
) -> list[DeliverSm]:
    """An ASCII long message as deliver_sm parts with an 8-bit-reference UDH, in order."""
    total = len(pieces)
    return [
        mo(
            "",
            source=source,
            destination=destination,
            esm_class=0x40,
            short_message=bytes([0x05, 0x00, 0x03, reference, total, number])
            + piece.encode("ascii"),
        )
        for number, piece in enumerate(pieces, start=1)
    ]


def tlv_u8(tag: int, value: int) -> Tlv:
    return Tlv(tag, bytes([value]))
