"""Held messages: the operator's review queue, and what releasing or dropping one does.

A held message is stored and routed like any other (``rental_id`` set when it fell in a
rental's window) but ``held``: no inbox reader returns it, no event or webhook went out,
and its rental's and number's counters did not move. Releasing it, in one transaction:

- gives it a **new id** (the next one), so that a renter's poll loop or push stream that
  already passed ``after`` the ids that arrived while it was held still sees it (inboxes
  are read in id order);
- moves the counters ingest would have moved (the rental's messages and first message,
  the number's messages, and RESERVED -> IN_USE when its rental is still active);
- writes the ``message.received`` webhook outbox rows and a ``message.released`` audit
  entry; the caller publishes the event after the commit.

Dropping deletes the row, with a ``message.dropped`` audit entry (never the text).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, delete, func, select, text, update

from smslocker.api.views import message_json
from smslocker.delivery.bus import Event
from smslocker.delivery.events import enqueue_webhooks, message_event
from smslocker.guard import audit
from smslocker.pool.lifecycle import NumberEvent, NumberState, sources_of
from smslocker.privacy.bodies import open_body
from smslocker.privacy.keyring import KeyRing
from smslocker.rentals.views import RentalStatus
from smslocker.store import Database
from smslocker.store.models import Message, Number, Rental

MESSAGE_DENIED = "message.denied"
MESSAGE_RELEASED = "message.released"
MESSAGE_DROPPED = "message.dropped"

MAX_LIMIT = 1000

#: "held" exactly as the partial index ix_messages_held says it: SQLite uses a partial
#: index only for a query with that very term (SQLAlchemy writes ``held = 1``, a scan).
_HELD = text("messages.held")


class HeldMessageNotFound(LookupError):
    """No held message with that id (never held, already released or dropped)."""


_COLUMNS = (
    Message.id,
    Message.rental_id,
    Message.account_id,
    Message.connector,
    Message.source,
    Message.destination,
    Message.text,
    Message.binary,
    Message.data_coding,
    Message.encoding,
    Message.parts,
    Message.complete,
    Message.codes,
    Message.service,
    Message.smsc_timestamp,
    Message.received_at,
    Message.message_time,
    Message.sealed,
    Message.held_reason,
)


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """A held message as the operator reviews it (the body opened if it was sealed)."""

    id: int
    rental_id: str | None
    account_id: int | None
    connector: str
    source: str
    destination: str
    text: str | None
    binary: bytes | None
    data_coding: int
    encoding: str
    parts: int
    complete: bool
    codes: list[dict[str, Any]] | None
    service: str | None
    smsc_timestamp: datetime | None
    received_at: datetime
    message_time: datetime
    held_reason: str | None

    def as_json(self) -> dict[str, Any]:
        """The renter's Message JSON, plus what the operator needs to decide."""
        return {
            **message_json(self),
            "account_id": self.account_id,
            "connector": self.connector,
            "reason": self.held_reason,
        }


def _held(row: Any, ring: KeyRing | None) -> HeldMessage:
    values = dict(row._mapping)
    sealed = values.pop("sealed")
    if sealed is not None and ring is not None:
        body = open_body(ring, sealed)
        values.update(text=body.text, binary=body.binary, codes=body.codes)
    return HeldMessage(**values)


async def held_messages(
    db: Database, *, after: int = 0, limit: int = 100, ring: KeyRing | None = None
) -> list[HeldMessage]:
    """Held messages with an id above ``after``, oldest first (the partial index's rows)."""
    if after < 0 or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"after >= 0 and 1 <= limit <= {MAX_LIMIT}")
    query = select(*_COLUMNS).where(_HELD, Message.id > after).order_by(Message.id).limit(limit)
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [_held(row, ring) for row in rows]


def _load_held(connection: Connection, message_id: int, ring: KeyRing | None) -> HeldMessage:
    row = connection.execute(select(*_COLUMNS).where(Message.id == message_id, _HELD)).first()
    if row is None:
        raise HeldMessageNotFound(f"no held message {message_id}")
    return _held(row, ring)


def _next_id(connection: Connection) -> int:
    if connection.dialect.name == "postgresql":
        found = connection.execute(
            text("SELECT nextval(pg_get_serial_sequence('messages', 'id'))")
        ).scalar_one()
    else:
        # The writer holds SQLite's write lock: nobody inserts between this and the update
        # (ingest picks its ids the same way).
        found = connection.execute(select(func.coalesce(func.max(Message.id), 0) + 1)).scalar_one()
    return int(found)


_FIRST_MESSAGE_SOURCES = sorted(state.value for state in sources_of(NumberEvent.FIRST_MESSAGE))


def _lock_rental(connection: Connection, rental_id: str | None) -> bool:
    """Lock the rental's row (as ingest does before it takes ids, so that a rental's
    messages commit in id order); whether it is still active."""
    if rental_id is None:
        return False
    status = connection.execute(
        select(Rental.status).where(Rental.id == rental_id).with_for_update()
    ).scalar_one_or_none()
    return bool(status == RentalStatus.ACTIVE.value)


def _count(connection: Connection, message: HeldMessage, active: bool, now: datetime) -> None:
    """The counters ingest leaves for a held message (see :func:`~smslocker.routing.batch.tally`),
    rentals before numbers (the lock order of ingest and rental ending)."""
    if message.rental_id is not None:
        connection.execute(
            update(Rental)
            .where(Rental.id == message.rental_id)
            .values(
                messages_count=Rental.messages_count + 1,
                first_message_at=func.coalesce(Rental.first_message_at, message.received_at),
            )
        )
    connection.execute(
        update(Number)
        .where(Number.e164 == message.destination)
        .values(messages_count=Number.messages_count + 1)
    )
    if active:
        connection.execute(
            update(Number)
            .where(Number.e164 == message.destination, Number.state.in_(_FIRST_MESSAGE_SOURCES))
            .values(state=NumberState.IN_USE.value, state_since=now)
        )


def _release(
    connection: Connection, message_id: int, now: datetime, actor: str, ring: KeyRing | None
) -> tuple[HeldMessage, list[Event]]:
    held = _load_held(connection, message_id, ring)
    active = _lock_rental(connection, held.rental_id)
    new_id = _next_id(connection)
    connection.execute(
        update(Message)
        .where(Message.id == message_id)
        .values(id=new_id, held=False, held_reason=None)
    )
    released = HeldMessage(**{**_fields(held), "id": new_id, "held_reason": None})
    _count(connection, released, active, now)
    events: list[Event] = []
    if released.rental_id is not None and released.account_id is not None:
        events = [message_event(released.account_id, released.rental_id, message_json(released))]
        enqueue_webhooks(connection, events, now)
    audit.append(
        connection,
        MESSAGE_RELEASED,
        at=now,
        actor=actor,
        account_id=released.account_id,
        target=f"message:{new_id}",
        details={
            "held_id": message_id,
            "id": new_id,
            "rental_id": released.rental_id,
            "connector": released.connector,
            "source": released.source,
            "reason": held.held_reason,
        },
    )
    return released, events


def _fields(message: HeldMessage) -> dict[str, Any]:
    return {name: getattr(message, name) for name in HeldMessage.__slots__}


async def release(
    db: Database, message_id: int, *, now: datetime, actor: str, ring: KeyRing | None = None
) -> tuple[HeldMessage, list[Event]]:
    """Release a held message into its inbox (see the module docstring); returns it with
    its new id, and its events to publish after this commit. :class:`HeldMessageNotFound`."""
    return await db.run_write(
        partial(_release, message_id=message_id, now=now, actor=actor, ring=ring)
    )


def _drop(connection: Connection, message_id: int, now: datetime, actor: str) -> HeldMessage:
    held = _load_held(connection, message_id, None)
    connection.execute(delete(Message).where(Message.id == message_id, _HELD))
    audit.append(
        connection,
        MESSAGE_DROPPED,
        at=now,
        actor=actor,
        account_id=held.account_id,
        target=f"message:{message_id}",
        details={
            "rental_id": held.rental_id,
            "connector": held.connector,
            "source": held.source,
            "destination": held.destination,
            "reason": held.held_reason,
        },
    )
    return held


async def drop(db: Database, message_id: int, *, now: datetime, actor: str) -> HeldMessage:
    """Delete a held message, audited. :class:`HeldMessageNotFound`."""
    return await db.run_write(partial(_drop, message_id=message_id, now=now, actor=actor))


__all__ = [
    "MAX_LIMIT",
    "MESSAGE_DENIED",
    "MESSAGE_DROPPED",
    "MESSAGE_RELEASED",
    "HeldMessage",
    "HeldMessageNotFound",
    "drop",
    "held_messages",
    "release",
]
