"""The audit trail: an append-only, hash-chained log of security-relevant actions.

Theory of operation: entry ``n`` stores ``prev_hash`` (entry ``n-1``'s hash, or
:data:`GENESIS` for the first) and ``hash = sha256(prev_hash + canonical JSON of the
entry)``, where the canonical JSON covers every column but the two hashes (sorted keys,
no spaces, times in ISO 8601 UTC). Changing, inserting or deleting a row in the middle
breaks the chain at that row, which :func:`verify` finds. (Deleting the *newest* rows
leaves a shorter valid chain: export the trail, or keep its last hash elsewhere, to
notice that.)

An entry is written in the transaction of the change it records (:func:`append`, or
:func:`append_async` on an async connection), so both commit or neither. The chain must
stay linear with concurrent writers: SQLite has one writer at a time; on PostgreSQL
:func:`append` takes a transaction-scoped advisory lock before reading the last entry.
Callers append last in their transaction, so the lock is held only until the commit.
``id`` is previous id + 1, given here: the primary key turns a forked chain into an
error instead of a silent fork.

Who did it (``actor``): ``key:<id>`` for a call with an API key (the API sets a resolver
with :func:`actor_context`), ``account:<id>`` from domain code that only knows the
account, ``guard`` for the abuse rules, ``cli`` / ``system`` otherwise.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.store.db import Database
from smslocker.store.models import AuditEntry

GENESIS = "0" * 64
#: The key of the PostgreSQL advisory lock that serialises appends ("audit" in ASCII).
ADVISORY_LOCK_KEY = 0x6175646974
_MAX_TARGET = 200

# --------------------------------------------------------------------------- actions

KEY_CREATED = "key.created"
KEY_REVOKED = "key.revoked"
ACCOUNT_TIER_CHANGED = "account.tier_changed"
ACCOUNT_STATUS_CHANGED = "account.status_changed"
RENTAL_STARTED = "rental.started"
RENTAL_ENDED = "rental.ended"
MESSAGE_READ = "message.read"
ADMIN_REQUEST = "admin.request"
RULE_ACTION = "guard.action"
RENTAL_REPORTED = "rental.reported"

_actor_resolver: ContextVar[Callable[[], str | None] | None] = ContextVar(
    "smslocker_audit_actor", default=None
)


@contextmanager
def actor_context(resolver: Callable[[], str | None]) -> Iterator[None]:
    """Within the block, :func:`current_actor` asks ``resolver`` (the API: the caller's key).

    A resolver rather than a value because the API knows the caller only once the
    request's authentication ran, after the middleware that sets this.
    """
    token = _actor_resolver.set(resolver)
    try:
        yield
    finally:
        _actor_resolver.reset(token)


def current_actor(default: str = "system") -> str:
    """Who is acting in this context (see the module docstring)."""
    resolver = _actor_resolver.get()
    actor = resolver() if resolver is not None else None
    return actor or default


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    at: datetime
    actor: str
    account_id: int | None
    action: str
    target: str | None
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def canonical(self) -> str:
        """The bytes the hash covers, as text: every field but the hashes."""
        return json.dumps(
            {
                "id": self.id,
                "at": _iso(self.at),
                "actor": self.actor,
                "account_id": self.account_id,
                "action": self.action,
                "target": self.target,
                "details": self.details,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            default=str,
        )

    def expected_hash(self) -> str:
        return chain_hash(self.prev_hash, self.canonical())

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": _iso(self.at),
            "actor": self.actor,
            "account_id": self.account_id,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def chain_hash(prev_hash: str, canonical: str) -> str:
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_COLUMNS = (
    AuditEntry.id,
    AuditEntry.at,
    AuditEntry.actor,
    AuditEntry.account_id,
    AuditEntry.action,
    AuditEntry.target,
    AuditEntry.details,
    AuditEntry.prev_hash,
    AuditEntry.hash,
)
_LAST = select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)


def _entry(row: Any) -> Entry:
    return Entry(
        id=row.id,
        at=row.at,
        actor=row.actor,
        account_id=row.account_id,
        action=row.action,
        target=row.target,
        details=dict(row.details or {}),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True, slots=True)
class Draft:
    """An entry before the chain gives it its id and hashes (:func:`append_many`)."""

    action: str
    at: datetime
    actor: str
    account_id: int | None = None
    target: str | None = None
    details: dict[str, Any] | None = None


def append(
    connection: Connection,
    action: str,
    *,
    at: datetime,
    actor: str,
    account_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> Entry:
    """Add an entry in the caller's transaction (call it last: see the module docstring)."""
    [entry] = append_many(connection, [Draft(action, at, actor, account_id, target, details)])
    return entry


def append_many(connection: Connection, drafts: Sequence[Draft]) -> list[Entry]:
    """Add ``drafts`` to the chain in order, in the caller's transaction, with one look at
    the chain's end and one insert (as :func:`append`, which is this for one entry)."""
    if not drafts:
        return []
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    last = connection.execute(_LAST).first()
    previous_id, previous_hash = (last.id, last.hash) if last is not None else (0, GENESIS)
    entries = []
    for draft in drafts:
        entry = Entry(
            id=previous_id + 1,
            at=draft.at,
            actor=draft.actor[:100],
            account_id=draft.account_id,
            action=draft.action,
            target=draft.target[:_MAX_TARGET] if draft.target is not None else None,
            details=_plain(draft.details or {}),
            prev_hash=previous_hash,
        )
        entry = replace(entry, hash=entry.expected_hash())
        entries.append(entry)
        previous_id, previous_hash = entry.id, entry.hash
    connection.execute(
        insert(AuditEntry),
        [
            {
                "id": entry.id,
                "at": entry.at,
                "actor": entry.actor,
                "account_id": entry.account_id,
                "action": entry.action,
                "target": entry.target,
                "details": entry.details,
                "prev_hash": entry.prev_hash,
                "hash": entry.hash,
            }
            for entry in entries
        ],
    )
    return entries


def _plain(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` as it reads back from the JSON column, so the hash is stable."""
    loaded = json.loads(json.dumps(details, default=str))
    assert isinstance(loaded, dict)
    return loaded


def rental_started(connection: Connection, rental: Any, now: datetime) -> Entry:
    """:func:`append` ``rental.started`` for ``rental`` (a ``RentalView``), by its renter."""
    return append(
        connection,
        RENTAL_STARTED,
        at=now,
        actor=f"account:{rental.account_id}",
        account_id=rental.account_id,
        target=rental.id,
        details={"number": rental.number, "service": rental.service, "price": rental.price},
    )


def rental_ended(
    connection: Connection, rental: Any, now: datetime, *, by_renter: bool = True
) -> Entry:
    """:func:`append` ``rental.ended`` for ``rental`` (a ``RentalView``), by its renter or
    (an expiry) by the sweeper."""
    return append(
        connection,
        RENTAL_ENDED,
        at=now,
        actor=f"account:{rental.account_id}" if by_renter else "system:sweeper",
        account_id=rental.account_id,
        target=rental.id,
        details={"status": rental.status, "refunded": rental.refunded},
    )


async def append_async(
    connection: AsyncConnection,
    action: str,
    *,
    at: datetime,
    actor: str | None = None,
    account_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> Entry:
    """:func:`append` on an async connection; ``actor`` defaults to :func:`current_actor`."""
    return await connection.run_sync(
        partial(
            append,
            action=action,
            at=at,
            actor=actor or current_actor(),
            account_id=account_id,
            target=target,
            details=details,
        )
    )


async def record(
    db: Database,
    action: str,
    *,
    at: datetime,
    actor: str | None = None,
    account_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> Entry:
    """Append an entry in a transaction of its own (for what has no transaction to join)."""
    return await db.run_write(
        partial(
            append,
            action=action,
            at=at,
            actor=actor or current_actor(),
            account_id=account_id,
            target=target,
            details=details,
        )
    )


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    account_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _query(where: AuditFilter, after: int, limit: int) -> Any:
    query = select(*_COLUMNS).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(limit)
    if where.actor is not None:
        query = query.where(AuditEntry.actor == where.actor)
    if where.action is not None:
        query = query.where(AuditEntry.action == where.action)
    if where.account_id is not None:
        query = query.where(AuditEntry.account_id == where.account_id)
    if where.since is not None:
        query = query.where(AuditEntry.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEntry.at < where.until)
    return query


async def entries(
    db: Database, where: AuditFilter = AuditFilter(), *, after: int = 0, limit: int = 100
) -> list[Entry]:
    """Entries matching ``where`` with an id above ``after``, oldest first."""
    async with db.read() as connection:
        rows = (await connection.execute(_query(where, after, limit))).all()
    return [_entry(row) for row in rows]


async def iterate(
    db: Database, where: AuditFilter = AuditFilter(), *, page: int = 1000
) -> AsyncIterator[Entry]:
    """Every matching entry, oldest first, read a page at a time (exports)."""
    after = 0
    while True:
        batch = await entries(db, where, after=after, limit=page)
        for entry in batch:
            yield entry
        if len(batch) < page:
            return
        after = batch[-1].id


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`verify` found: ``ok``, how many entries it checked, the first break."""

    ok: bool
    checked: int
    broken_id: int | None = None
    problem: str | None = None
    last_hash: str = GENESIS


async def verify(db: Database) -> Verdict:
    """Walk the whole chain; stop at the first entry that does not follow from the last."""
    previous_id, previous_hash, checked = 0, GENESIS, 0
    async for entry in iterate(db):
        problem = None
        if entry.id != previous_id + 1:
            problem = f"expected entry {previous_id + 1}, found {entry.id} (entries missing)"
        elif entry.prev_hash != previous_hash:
            problem = "prev_hash is not the previous entry's hash"
        elif entry.hash != entry.expected_hash():
            problem = "hash does not match the entry's contents (changed)"
        if problem is not None:
            return Verdict(False, checked, entry.id, problem, previous_hash)
        previous_id, previous_hash, checked = entry.id, entry.hash, checked + 1
    return Verdict(True, checked, last_hash=previous_hash)


def json_line(entry: Entry) -> str:
    """One line of an export: the entry as compact JSON."""
    return json.dumps(entry.as_json(), separators=(",", ":"), ensure_ascii=False) + "\n"


__all__ = [
    "ACCOUNT_STATUS_CHANGED",
    "ACCOUNT_TIER_CHANGED",
    "ADMIN_REQUEST",
    "GENESIS",
    "KEY_CREATED",
    "KEY_REVOKED",
    "MESSAGE_READ",
    "RENTAL_ENDED",
    "RENTAL_REPORTED",
    "RENTAL_STARTED",
    "RULE_ACTION",
    "AuditFilter",
    "Draft",
    "Entry",
    "Verdict",
    "actor_context",
    "append",
    "append_async",
    "append_many",
    "chain_hash",
    "current_actor",
    "entries",
    "iterate",
    "json_line",
    "record",
    "rental_ended",
    "rental_started",
    "verify",
]
