"""Reading inboxes: a renter's messages, the newest code, and (for operators) the unmatched.

Every renter-facing read is scoped to the caller's account twice: the rental must be
theirs (another account's rental is "not found", the same answer as no rental at
all, so ids cannot be probed), and each message row must carry their account too.
Unmatched messages (no rental) are only ever listed for operators.

Messages come in arrival order, by id, ``after`` the last id the caller has seen:
a poll loop passes the last id it got and never misses or repeats a message. (On
PostgreSQL, where several gateways may ingest at once, ingest locks the rental's row
before it takes ids for its messages, so a rental's messages commit in id order.)

A body sealed at rest (:mod:`smslocker.privacy`) is opened here, with the ``ring`` the
caller passes (the platform's); a sealed body without a ring to open it is an error,
never a silent empty message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.privacy.bodies import open_body
from smslocker.privacy.keyring import KeyRing
from smslocker.rentals.errors import InvalidRequest, RentalNotFound
from smslocker.store import Database
from smslocker.store.models import Message, Rental

#: The most messages one read returns.
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """One stored message as a reader sees it. ``text`` and ``codes`` are None once purged."""

    id: int
    rental_id: str | None
    connector: str
    source: str
    destination: str
    text: str | None
    binary: bytes | None
    data_coding: int
    encoding: str
    parts: int
    complete: bool
    lossy: bool
    codes: list[dict[str, Any]] | None
    service: str | None
    smsc_timestamp: datetime | None
    received_at: datetime
    message_time: datetime
    body_purged_at: datetime | None

    @property
    def code(self) -> str | None:
        """The best code's value, if a code was found."""
        return str(self.codes[0]["value"]) if self.codes else None


@dataclass(frozen=True, slots=True)
class LatestCode:
    """The newest code of a rental: its value, the whole candidate, and its message."""

    value: str
    code: dict[str, Any]
    message_id: int
    source: str
    received_at: datetime


INBOX_COLUMNS = (
    Message.id,
    Message.rental_id,
    Message.connector,
    Message.source,
    Message.destination,
    Message.text,
    Message.binary,
    Message.data_coding,
    Message.encoding,
    Message.parts,
    Message.complete,
    Message.lossy,
    Message.codes,
    Message.service,
    Message.smsc_timestamp,
    Message.received_at,
    Message.message_time,
    Message.body_purged_at,
    Message.sealed,
)


class SealedBodyError(RuntimeError):
    """A sealed body and no key ring to open it: the process is misconfigured."""


def inbox_message(row: Any, ring: KeyRing | None) -> InboxMessage:
    """An :class:`InboxMessage` from a row of :data:`INBOX_COLUMNS`, its body opened."""
    values = dict(row._mapping)
    sealed = values.pop("sealed")
    if sealed is not None:
        if ring is None:
            raise SealedBodyError("message bodies are encrypted but no key ring is loaded")
        body = open_body(ring, sealed)
        values.update(text=body.text, binary=body.binary, codes=body.codes)
    return InboxMessage(**values)


async def rental_messages(
    db: Database,
    account_id: int,
    rental_id: str,
    *,
    after: int = 0,
    limit: int = 100,
    ring: KeyRing | None = None,
) -> list[InboxMessage]:
    """The rental's messages with id > ``after``, oldest first, at most ``limit``.

    Raises :class:`~smslocker.rentals.errors.RentalNotFound` when the rental is not
    ``account_id``'s (or does not exist), :class:`~smslocker.rentals.errors.InvalidRequest`
    for a limit outside 1..MAX_LIMIT.
    """
    _check_page(after, limit)
    async with db.read() as connection:
        await _owned(connection, account_id, rental_id)
        query = _page(
            select(*INBOX_COLUMNS).where(
                Message.rental_id == rental_id,
                Message.account_id == account_id,
                Message.held.is_(False),  # held by an inbound filter (smslocker.screening)
            ),
            after,
            limit,
        )
        rows = (await connection.execute(query)).all()
    return [inbox_message(row, ring) for row in rows]


async def latest_code(
    db: Database, account_id: int, rental_id: str, *, ring: KeyRing | None = None
) -> LatestCode | None:
    """The best code of the rental's newest message that has one; None before any.

    Raises :class:`~smslocker.rentals.errors.RentalNotFound` as :func:`rental_messages`.
    """
    async with db.read() as connection:
        await _owned(connection, account_id, rental_id)
        # Newest first, skipping messages without codes ("[]") and purged ones (NULL). The
        # filter is in Python: codes are JSON text, and a rental has a handful of messages.
        rows = await connection.execute(
            select(Message.id, Message.source, Message.received_at, Message.codes, Message.sealed)
            .where(
                Message.rental_id == rental_id,
                Message.account_id == account_id,
                Message.held.is_(False),
            )
            .order_by(Message.id.desc())
        )
        for row in rows:
            codes = row.codes
            if row.sealed is not None:
                if ring is None:
                    raise SealedBodyError("message bodies are encrypted but no key ring is loaded")
                codes = open_body(ring, row.sealed).codes
            if codes:
                best = codes[0]
                return LatestCode(
                    value=str(best["value"]),
                    code=best,
                    message_id=row.id,
                    source=row.source,
                    received_at=row.received_at,
                )
    return None


async def unmatched_messages(
    db: Database, *, after: int = 0, limit: int = 100, ring: KeyRing | None = None
) -> list[InboxMessage]:
    """Messages that belong to no rental, oldest first (operators only: abuse review)."""
    _check_page(after, limit)
    async with db.read() as connection:
        unmatched = select(*INBOX_COLUMNS).where(
            Message.rental_id.is_(None), Message.held.is_(False)
        )
        query = _page(unmatched, after, limit)
        rows = (await connection.execute(query)).all()
    return [inbox_message(row, ring) for row in rows]


def _check_page(after: int, limit: int) -> None:
    if after < 0:
        raise InvalidRequest("after must be 0 or a message id")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")


def _page(query: Select[Any], after: int, limit: int) -> Select[Any]:
    return query.where(Message.id > after).order_by(Message.id).limit(limit)


async def _owned(connection: AsyncConnection, account_id: int, rental_id: str) -> None:
    found = await connection.scalar(
        select(Rental.id).where(Rental.id == rental_id, Rental.account_id == account_id)
    )
    if found is None:
        raise RentalNotFound(f"no rental {rental_id}")


__all__ = [
    "MAX_LIMIT",
    "InboxMessage",
    "LatestCode",
    "latest_code",
    "rental_messages",
    "unmatched_messages",
]
