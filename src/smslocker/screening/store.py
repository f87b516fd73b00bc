"""The operator's filter rules in the database, and the compiled rule set ingest decides with.

Every change (create, update, delete) is checked with :meth:`FilterRule.check` before it
is written, and writes an audit entry in the same transaction (``filter.created``,
``filter.updated``, ``filter.deleted``, with the rule as it was and as it is).

Ingest never reads the table per message. Each process keeps one :class:`RuleCache` per
database: a change made through this module marks it stale at once (the admin API and
the connectors of one process share it), and a change made by another process is seen
within ``refresh_s`` seconds, when the cache reads the table again and recompiles only
if the rules differ. Reading the whole table is the version check: an operator keeps
tens of rules, and there is no "updated" column that would catch a PATCH from a
``max(id)`` or a count.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from smslocker.guard import audit
from smslocker.log import get_logger
from smslocker.store import Database
from smslocker.store.models import InboundFilter

from .rules import Action, Field, FilterRule, InvalidRule, Match, RuleSet

log = get_logger(__name__)

FILTER_CREATED = "filter.created"
FILTER_UPDATED = "filter.updated"
FILTER_DELETED = "filter.deleted"

#: How often a cache looks for another process's changes (seconds).
REFRESH_S = 2.0


class FilterNotFound(LookupError):
    """No filter rule with that id."""


@dataclass(frozen=True, slots=True)
class FilterRecord:
    """One row of ``inbound_filters``: the rule and the operator's note about it."""

    id: int
    field: Field
    match: Match
    pattern: str
    action: Action
    connector: str | None
    service: str | None
    enabled: bool
    note: str | None
    created_at: datetime

    def rule(self) -> FilterRule:
        return FilterRule(
            id=self.id,
            field=self.field,
            match=self.match,
            pattern=self.pattern,
            action=self.action,
            connector=self.connector,
            service=self.service,
            enabled=self.enabled,
        )

    def as_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["created_at"] = self.created_at.isoformat().replace("+00:00", "Z")
        return {
            key: str(value) if isinstance(value, Field | Match | Action) else value
            for key, value in found.items()
        }


#: The fields an update may change (the API's PATCH body).
CHANGEABLE = ("field", "match", "pattern", "action", "connector", "service", "enabled", "note")

_COLUMNS = (
    InboundFilter.id,
    InboundFilter.field,
    InboundFilter.match,
    InboundFilter.pattern,
    InboundFilter.action,
    InboundFilter.connector,
    InboundFilter.service,
    InboundFilter.enabled,
    InboundFilter.note,
    InboundFilter.created_at,
)


def _record(row: Any) -> FilterRecord:
    """A row as a record. A row another version wrote with values this one does not know
    raises :class:`InvalidRule` (the cache skips it rather than fail every ingest)."""
    try:
        return FilterRecord(
            id=row.id,
            field=Field(row.field),
            match=Match(row.match),
            pattern=row.pattern,
            action=Action(row.action),
            connector=row.connector,
            service=row.service,
            enabled=bool(row.enabled),
            note=row.note,
            created_at=row.created_at,
        )
    except ValueError as error:
        raise InvalidRule(f"filter {row.id}: {error}") from None


async def list_filters(db: Database) -> list[FilterRecord]:
    """Every rule, by id."""
    async with db.read() as connection:
        rows = (await connection.execute(select(*_COLUMNS).order_by(InboundFilter.id))).all()
    return [_record(row) for row in rows]


def _checked(record: FilterRecord) -> FilterRecord:
    record.rule().check()
    for name, value in (
        ("connector", record.connector),
        ("service", record.service),
        ("note", record.note),
    ):
        if value is not None and "\x00" in value:
            raise InvalidRule(f"{name} cannot hold a NUL character")
    return record


def _create(connection: Connection, record: FilterRecord, actor: str) -> FilterRecord:
    values = asdict(record)
    values.pop("id")
    new_id = connection.execute(
        insert(InboundFilter).values(**values).returning(InboundFilter.id)
    ).scalar_one()
    created = replace(record, id=new_id)
    audit.append(
        connection,
        FILTER_CREATED,
        at=record.created_at,
        actor=actor,
        target=f"filter:{new_id}",
        details={"rule": created.as_json()},
    )
    return created


async def create_filter(
    db: Database,
    *,
    field: Field,
    match: Match,
    pattern: str,
    action: Action,
    connector: str | None = None,
    service: str | None = None,
    enabled: bool = True,
    note: str | None = None,
    now: datetime,
    actor: str,
) -> FilterRecord:
    """Add a rule (:class:`InvalidRule` if it cannot be used); audited."""
    record = _checked(
        FilterRecord(0, field, match, pattern, action, connector, service, enabled, note, now)
    )
    created = await db.run_write(partial(_create, record=record, actor=actor))
    rule_cache(db).invalidate()
    return created


def _load_one(connection: Connection, filter_id: int) -> FilterRecord:
    row = connection.execute(select(*_COLUMNS).where(InboundFilter.id == filter_id)).first()
    if row is None:
        raise FilterNotFound(f"no filter {filter_id}")
    return _record(row)


def _update(
    connection: Connection, filter_id: int, changes: dict[str, Any], now: datetime, actor: str
) -> FilterRecord:
    before = _load_one(connection, filter_id)
    after = _checked(replace(before, **changes))
    values = {name: getattr(after, name) for name in CHANGEABLE}
    connection.execute(update(InboundFilter).where(InboundFilter.id == filter_id).values(values))
    audit.append(
        connection,
        FILTER_UPDATED,
        at=now,
        actor=actor,
        target=f"filter:{filter_id}",
        details={"before": before.as_json(), "after": after.as_json()},
    )
    return after


async def update_filter(
    db: Database, filter_id: int, changes: dict[str, Any], *, now: datetime, actor: str
) -> FilterRecord:
    """Change some of :data:`CHANGEABLE` of a rule; the result is checked as a whole
    (:class:`InvalidRule`, :class:`FilterNotFound`); audited."""
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise InvalidRule(f"cannot change {', '.join(sorted(unknown))}")
    coerced = dict(changes)
    for name, kind in (("field", Field), ("match", Match), ("action", Action)):
        if name in coerced:
            try:
                coerced[name] = kind(coerced[name])
            except ValueError:
                raise InvalidRule(f"{name}: not one of {', '.join(kind)}") from None
    updated = await db.run_write(
        partial(_update, filter_id=filter_id, changes=coerced, now=now, actor=actor)
    )
    rule_cache(db).invalidate()
    return updated


def _delete(connection: Connection, filter_id: int, now: datetime, actor: str) -> FilterRecord:
    before = _load_one(connection, filter_id)
    connection.execute(delete(InboundFilter).where(InboundFilter.id == filter_id))
    audit.append(
        connection,
        FILTER_DELETED,
        at=now,
        actor=actor,
        target=f"filter:{filter_id}",
        details={"rule": before.as_json()},
    )
    return before


async def delete_filter(db: Database, filter_id: int, *, now: datetime, actor: str) -> FilterRecord:
    """Remove a rule (:class:`FilterNotFound`); audited. Returns the rule as it was."""
    deleted = await db.run_write(partial(_delete, filter_id=filter_id, now=now, actor=actor))
    rule_cache(db).invalidate()
    return deleted


# --------------------------------------------------------------------------- the cache


class RuleCache:
    """The compiled rule set of one database, for ingest. See the module docstring."""

    def __init__(
        self,
        db: Database,
        *,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.refresh_s = refresh_s
        self._clock = clock
        self._rules = RuleSet()
        self._loaded: tuple[FilterRule, ...] | None = None
        self._checked_at = 0.0
        self._lock = asyncio.Lock()
        #: Reads of the table, and recompilations (the rules had changed).
        self.reads = 0
        self.reloads = 0

    def invalidate(self) -> None:
        """Read the table again on the next :meth:`rules` (a change in this process)."""
        self._checked_at = float("-inf")

    async def rules(self) -> RuleSet:
        """The current rule set; reads the table at most every ``refresh_s`` seconds.

        The first read's failure raises (ingest then answers with a temporary error and
        the SMSC redelivers: no message passes a filter it could not load); a later one
        keeps the rules already loaded.
        """
        if self._loaded is not None and self._clock() - self._checked_at < self.refresh_s:
            return self._rules
        async with self._lock:
            if self._loaded is not None and self._clock() - self._checked_at < self.refresh_s:
                return self._rules
            try:
                await self._reload()
            except Exception as error:
                if self._loaded is None:
                    raise
                log.warning("screening.reload_failed", error=repr(error))
                self._checked_at = self._clock()
        return self._rules

    async def _reload(self) -> None:
        self.reads += 1
        async with self.db.read() as connection:
            rows = (await connection.execute(select(*_COLUMNS).order_by(InboundFilter.id))).all()
        rules: list[FilterRule] = []
        for row in rows:
            try:
                rules.append(_record(row).rule().check())
            except InvalidRule as error:  # written by hand or by another version
                log.warning("screening.rule_skipped", filter_id=row.id, error=str(error))
        loaded = tuple(rules)
        if loaded != self._loaded:
            self._rules = RuleSet(list(loaded))
            self._loaded = loaded
            self.reloads += 1
        self._checked_at = self._clock()


_caches: weakref.WeakKeyDictionary[Database, RuleCache] = weakref.WeakKeyDictionary()


def rule_cache(db: Database) -> RuleCache:
    """This process's cache for ``db`` (the one the admin routes invalidate)."""
    cache = _caches.get(db)
    if cache is None:
        cache = _caches[db] = RuleCache(db)
    return cache


__all__ = [
    "CHANGEABLE",
    "FILTER_CREATED",
    "FILTER_DELETED",
    "FILTER_UPDATED",
    "REFRESH_S",
    "FilterNotFound",
    "FilterRecord",
    "RuleCache",
    "create_filter",
    "delete_filter",
    "list_filters",
    "rule_cache",
    "update_filter",
]
