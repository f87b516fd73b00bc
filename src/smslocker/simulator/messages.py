"""What the simulator remembers about the messages it delivers.

A :class:`Message` is what a person would call one SMS: an injected MO, an
ESME's submit_sm looped back as an MO, or a delivery receipt. It goes out as
one or more deliver_sm, each a :class:`Delivery` that is acked, retried or
failed on its own, as a real SMSC treats segments. The message's state is
derived from its parts, so the two can never disagree.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from smslocker.smpp.constants import status_name
from smslocker.smpp.pdu import DeliverSm

from .views import MessageStatus, PartStatus


class DeliveryState(StrEnum):
    QUEUED = "queued"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATES = frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.CANCELLED})


class MessageKind(StrEnum):
    MO = "mo"
    LOOPBACK = "loopback"
    RECEIPT = "receipt"


@dataclass(eq=False, slots=True)
class Delivery:
    """One deliver_sm of a message, until it is acked with status 0 or given up."""

    message: Message
    part: int
    pdu: DeliverSm
    state: DeliveryState = DeliveryState.QUEUED
    attempts: int = 0
    backoff_failures: int = 0
    """Consecutive ESME_RTHROTTLED / ESME_RX_T_APPN answers: they lengthen the next wait."""
    last_status: int | None = None
    last_error: str | None = None
    delivered_to: str | None = None

    def status(self) -> PartStatus:
        return PartStatus(
            part=self.part,
            state=self.state.value,
            attempts=self.attempts,
            last_status=None if self.last_status is None else status_name(self.last_status),
            last_error=self.last_error,
            delivered_to=self.delivered_to,
        )


@dataclass(eq=False, slots=True)
class Message:
    """One message and its deliver_sm parts. ``state`` is derived from the parts."""

    id: str
    kind: MessageKind
    source: str
    destination: str
    text: str
    data_coding: int
    split: str | None = None
    parts: list[Delivery] = field(default_factory=list)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    done_at: datetime | None = None
    system_id: str | None = None
    """Only sessions bound with this system_id may receive it (receipts)."""
    preferred: object | None = None
    """The connection to try first when it can take it (the one that submitted)."""
    registered_delivery: int = 0
    on_final: Callable[[Message], None] | None = None
    """Called once when every part reached a final state (loopback: send the receipt)."""

    @property
    def state(self) -> DeliveryState:
        states = {part.state for part in self.parts}
        for state in (
            DeliveryState.FAILED,
            DeliveryState.CANCELLED,
            DeliveryState.IN_FLIGHT,
            DeliveryState.QUEUED,
        ):
            if state in states:
                return state
        return DeliveryState.DELIVERED

    @property
    def final(self) -> bool:
        return all(part.state in FINAL_STATES for part in self.parts)

    @property
    def attempts(self) -> int:
        """deliver_sm sent for this message, first tries and redeliveries."""
        return sum(part.attempts for part in self.parts)

    def status(self) -> MessageStatus:
        """A snapshot for the HTTP API, the CLI and tests."""
        return MessageStatus(
            id=self.id,
            kind=self.kind.value,
            source=self.source,
            destination=self.destination,
            text=self.text,
            data_coding=self.data_coding,
            split=self.split,
            state=self.state.value,
            attempts=self.attempts,
            created_at=self.created_at.isoformat(),
            done_at=None if self.done_at is None else self.done_at.isoformat(),
            parts=tuple(part.status() for part in self.parts),
        )


class MessageStore:
    """Messages by id, oldest first; finished ones beyond ``limit`` are forgotten.

    Ids are hex, from a counter that starts at a random point: a restarted
    simulator never hands out an id the gateway already saw, which could make it
    drop a new message as a duplicate.
    """

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._messages: dict[str, Message] = {}
        self._next_id = secrets.randbits(36) + (1 << 36)

    def new_id(self) -> str:
        self._next_id += 1
        return f"{self._next_id:010x}"

    def add(self, message: Message) -> None:
        self._messages[message.id] = message
        while len(self._messages) > self.limit:
            oldest = next(iter(self._messages.values()))
            if not oldest.final:
                break
            del self._messages[oldest.id]

    def get(self, message_id: str) -> Message | None:
        return self._messages.get(message_id)

    def __len__(self) -> int:
        return len(self._messages)

    def values(self) -> list[Message]:
        return list(self._messages.values())
