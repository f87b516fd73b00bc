"""Choosing the number a rental gets.

A renter names a number, or lets the platform pick by country, service, carrier and
line type. The platform picks a number that is FREE, whose last rental's window (end +
grace) has closed (``busy_until`` — so windows of one number never overlap, which is
what routing relies on), that was not used for the service within the rotation period
and is not known to fail for it, least recently used first.

Cost: the query walks ``ix_numbers_pick_country`` (state, country, last_used_at) or
``ix_numbers_pick`` (state, last_used_at) in least-recently-used order and stops at the
first number that passes the other filters, so it is O(log n) plus the numbers it skips.
Those are few: a number used recently for the service was used recently at all and sits
at the far end of that order. Carrier and line type are filters on the walk, not index
columns: a pool where almost no number of a country matches them is walked further
(``tests/pool/test_selection_plan.py`` checks the plans on both databases).

Concurrency: on PostgreSQL the row is taken ``FOR NO KEY UPDATE SKIP LOCKED``, so
concurrent renters each get a different number without waiting on each other (and a
probe inserted for the number, whose foreign key takes a KEY SHARE lock, does not wait
for the rent either); on SQLite the whole rent is one write transaction of the single
writer. The caller still moves the number
with a compare-and-set (:func:`~.transitions.apply_event`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, exists, or_, select

from smslocker.settings import PolicySettings
from smslocker.store.models import Number, ServiceTag

from .lifecycle import NumberState
from .phone import MOBILE_LINE_TYPES


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a renter asks for. ``number`` (E.164 with '+') overrides the other filters."""

    number: str | None = None
    country: str | None = None
    service: str | None = None
    carrier: str | None = None
    mobile_only: bool = False


@dataclass(frozen=True, slots=True)
class Picked:
    """The number selection chose (locked on PostgreSQL until the transaction ends)."""

    id: int
    e164: str
    country: str | None
    carrier: str | None
    line_type: str


_COLUMNS = (Number.id, Number.e164, Number.country, Number.carrier, Number.line_type)
#: The rows both queries return: the columns of :class:`Picked`.
PickQuery = Select[int, str, str | None, str | None, str]


def rentable() -> Any:
    """The condition "may be rented at ``:now``": FREE, and the last window has closed.

    ``busy_until < now`` is strict: routing windows are closed intervals, so a rental
    starting at the very instant the previous window ends would share that instant.
    """
    return and_(
        Number.state == NumberState.FREE.value,
        or_(Number.busy_until.is_(None), Number.busy_until < bindparam("now")),
    )


# The statements are built once per shape and executed with parameters: building and
# hashing a statement costs more CPU than SQLite takes to run it (bench/rent.py).
_EXPLICIT: PickQuery = (
    select(*_COLUMNS)
    .where(Number.e164 == bindparam("e164"), rentable())
    .with_for_update(skip_locked=True, key_share=True, of=Number)
)


@cache
def _pick_statement(country: bool, carrier: bool, mobile_only: bool, service: bool) -> PickQuery:
    """The platform pick for one combination of filters (16 at most)."""
    query = select(*_COLUMNS).where(rentable())
    if country:
        query = query.where(Number.country == bindparam("country"))
    if carrier:
        query = query.where(Number.carrier == bindparam("carrier"))
    if mobile_only:
        query = query.where(Number.line_type.in_(sorted(MOBILE_LINE_TYPES)))
    if service:
        query = query.where(~_barred_for_service())
    return (
        query.order_by(Number.last_used_at)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True, of=Number)
    )


def _barred_for_service() -> Any:
    """A service tag keeps the number from ``:service``: failing, or used after ``:cutoff``."""
    return exists().where(
        ServiceTag.number_id == Number.id,
        ServiceTag.service == bindparam("service"),
        or_(ServiceTag.failing.is_(True), ServiceTag.last_used_at > bindparam("cutoff")),
    )


def _statement(
    criteria: Criteria, now: datetime, rotation_s: int
) -> tuple[PickQuery, dict[str, Any]]:
    if criteria.number is not None:
        return _EXPLICIT, {"e164": criteria.number, "now": now}
    statement = _pick_statement(
        bool(criteria.country), bool(criteria.carrier), criteria.mobile_only, bool(criteria.service)
    )
    parameters: dict[str, Any] = {"now": now}
    if criteria.country:
        parameters["country"] = criteria.country.upper()
    if criteria.carrier:
        parameters["carrier"] = criteria.carrier
    if criteria.service:
        parameters["service"] = criteria.service
        parameters["cutoff"] = now - timedelta(seconds=rotation_s)
    return statement, parameters


def pick_query(criteria: Criteria, now: datetime, rotation_s: int) -> PickQuery:
    """The query :func:`pick_number` runs, with its values bound (to EXPLAIN it)."""
    statement, parameters = _statement(criteria, now, rotation_s)
    return statement.params(parameters)


def pick_number(
    connection: Connection, criteria: Criteria, now: datetime, policy: PolicySettings
) -> Picked | None:
    """The number to rent for ``criteria`` at ``now``, or None when there is none.

    Call inside the rent's write transaction (:meth:`~smslocker.store.db.Database.
    run_write`): on PostgreSQL the row stays locked until it ends, and concurrent callers
    skip it.
    """
    statement, parameters = _statement(criteria, now, policy.service_rotation_s)
    row = connection.execute(statement, parameters).first()
    return None if row is None else Picked(*row)


__all__ = ["Criteria", "Picked", "pick_number", "pick_query", "rentable"]
