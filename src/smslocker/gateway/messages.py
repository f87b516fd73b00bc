"""What a connector hands to its sink: whole inbound messages and delivery receipts."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from smslocker.smpp.concat import ConcatMark
from smslocker.smpp.receipts import DeliveryReceipt


# Not slots=True: a connector makes one of these per message, and the frozen __init__ of a
# slotted class sets each of the 16 fields through object.__setattr__ (1.9 µs, a quarter of
# all a connector spent on a message). Without slots the __dict__ can be set in one step:
# see one_part_fields().
@dataclass(frozen=True)
class InboundMessage:
    """One mobile-originated SMS after decoding and reassembly.

    ``text`` is the decoded text (``binary`` holds the octets of an 8-bit binary
    message instead); ``lossy`` says some octets could not be decoded and were
    replaced. ``parts`` is the number of parts the message announced and
    ``complete`` is False when reassembly timed out with ``missing`` parts.
    ``smsc_timestamp`` is the SMSC's own time for the message when it gave one
    (``None`` otherwise); ``received_at`` is our clock when the PDU arrived.
    ``concat`` is the mark of a long message that came out whole, for a sink to keep
    with it (:class:`~smslocker.smpp.concat.ConcatMark`, :class:`RecallingSink`).
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
    concat: ConcatMark | None = None


def one_part_fields(connector: str) -> dict[str, object]:
    """The ``__dict__`` of a one-part GSM message from ``connector``, for the hot path.

    Every field is there: ``data_coding`` 0 and ``encoding`` "gsm7", the other
    fields with a default at it, the rest ``None`` until set. The connector
    copies this once per message, sets the fields that differ, and makes the
    message with ``object.__new__`` and ``object.__setattr__(message,
    "__dict__", fields)``: what the frozen ``__init__`` would give (a test
    compares them) for a fraction of its cost, since copying a dictionary of
    the right shape and replacing a few values is cheaper than building one key
    by key, let alone setting the fields one ``object.__setattr__`` at a time.
    Nothing is left to the class defaults: a sink reads every field, and an
    attribute found on the class costs it more than one found in the instance.
    """
    fields: dict[str, object] = {}
    for field in dataclasses.fields(InboundMessage):
        fields[field.name] = None if field.default is dataclasses.MISSING else field.default
    fields.update(connector=connector, data_coding=0, encoding="gsm7")
    return fields


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


@runtime_checkable
class RecallingSink(Sink, Protocol):
    """A sink that keeps the marks of the long messages it stored (a durable one).

    A connector asks it once, before its first bind, for the marks stored in the last
    ``within_s`` seconds through ``connector``, and tells its reassembler of them
    (:meth:`~smslocker.smpp.concat.Reassembler.recall`): the parts of those messages
    that the SMSC redelivers after a crash are then acknowledged at once.
    """

    async def recall(self, connector: str, within_s: float) -> Sequence[ConcatMark]: ...


class SinkSaturated(Exception):
    """The sink cannot take more now; the SMSC should slow down and redeliver."""
