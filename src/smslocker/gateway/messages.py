"""What a connector hands to its sink: whole inbound messages and delivery receipts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from smslocker.smpp.receipts import DeliveryReceipt


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One mobile-originated SMS after decoding and reassembly.

    ``text`` is the decoded text (``binary`` holds the octets of an 8-bit binary
    message instead); ``lossy`` says some octets could not be decoded and were
    replaced. ``parts`` is the number of parts the message announced and
    ``complete`` is False when reassembly timed out with ``missing`` parts.
    ``smsc_timestamp`` is the SMSC's own time for the message when it gave one
    (``None`` otherwise); ``received_at`` is our clock when the PDU arrived.
    """

    connector: str
    source: str
    destination: str
    text: str
    data_coding: int
    encoding: str
    received_at: datetime
    smsc_timestamp: datetime | None = None
    parts: int = 1
    complete: bool = True
    missing: tuple[int, ...] = ()
    binary: bytes | None = None
    lossy: bool = False
    source_ton: int = 0
    destination_ton: int = 0
    concat_error: str | None = None


@dataclass(frozen=True, slots=True)
class InboundReceipt:
    """A delivery receipt for a message we submitted (never a user message)."""

    connector: str
    receipt: DeliveryReceipt
    received_at: datetime


InboundEvent = InboundMessage | InboundReceipt


class Sink(Protocol):
    """Where a connector puts what it receives.

    ``accept`` returns once the batch is safe (for storage: committed); only
    then does the connector acknowledge the PDUs. Raising makes the connector
    answer them with a temporary error (ESME_RX_T_APPN) so that the SMSC
    redelivers; raise :class:`SinkSaturated` to answer ESME_RTHROTTLED instead.
    """

    async def accept(self, batch: Sequence[InboundEvent]) -> None: ...


class SinkSaturated(Exception):
    """The sink cannot take more now; the SMSC should slow down and redeliver."""
