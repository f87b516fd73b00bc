"""Applying the lifecycle table to stored numbers, as compare-and-set updates.

Every move of a number is ``UPDATE numbers SET state = :to ... WHERE state IN
sources_of(event)``: the table in :mod:`.lifecycle` decides which states an event may
leave, the database decides (atomically) whether the number is still in one of them. A
caller that moved fewer numbers than it expected lost a race, or asked for a move the
table does not allow; nothing is ever half-applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Update, bindparam, select, update

from smslocker.store.models import Number

from .lifecycle import TRANSITIONS, NumberEvent, NumberState, sources_of

#: The state each event leads to: in the table, every event has exactly one target.
TARGET: dict[NumberEvent, NumberState] = {event: to for (_from, event), to in TRANSITIONS.items()}


def event_update(
    event: NumberEvent,
    *conditions: ColumnElement[bool],
    only_from: Iterable[NumberState] | None = None,
    **values: Any,
) -> Update:
    """The compare-and-set ``UPDATE`` that moves the numbers matching ``conditions`` by
    ``event``, setting ``state_since`` to ``:now`` and the other ``values`` too.

    Hot paths build theirs once, with bind parameters, and execute it with values
    (``rentals.service`` for rent); :func:`apply_event` builds and runs one in one go.
    """
    return (
        update(Number)
        .where(Number.state.in_(_source_values(event, only_from)), *conditions)
        .values(state=TARGET[event].value, state_since=bindparam("now"), **values)
    )


def _source_values(event: NumberEvent, only_from: Iterable[NumberState] | None) -> list[str]:
    sources = sources_of(event)
    if only_from is not None:
        sources = sources & frozenset(only_from)
    return sorted(state.value for state in sources)


def apply_event(
    connection: Connection,
    event: NumberEvent,
    now: datetime,
    *conditions: ColumnElement[bool],
    only_from: Iterable[NumberState] | None = None,
    skip_locked: bool = False,
    **values: Any,
) -> int:
    """Move every number matching ``conditions`` by ``event``; returns how many moved.

    ``conditions`` pick the numbers (``Number.id == 7``, ``Number.state_until <= now``);
    ``only_from`` narrows the source states further than the table does (quarantine only
    FREE numbers, say); ``values`` are more columns to set in the same update. The
    number's ``state_since`` becomes ``now``.

    ``skip_locked`` is for bulk moves that run concurrently with themselves (sweepers
    in several processes): on PostgreSQL the rows are first locked in id order, skipping
    those another transaction holds, so two bulk moves never wait on each other — a
    plain ``UPDATE ... WHERE state = ...`` in two transactions at once locks rows in
    whatever order each scan meets them and can deadlock.
    """
    sources = _source_values(event, only_from)
    if not sources:
        return 0
    if skip_locked:
        locked = connection.execute(
            select(Number.id)
            .where(Number.state.in_(sources), *conditions)
            .order_by(Number.id)
            .with_for_update(skip_locked=True, key_share=True)
        )
        number_ids = list(locked.scalars())
        if not number_ids:
            return 0
        conditions = (Number.id.in_(number_ids),)
    statement = event_update(event, *conditions, only_from=only_from, **values)
    return int(connection.execute(statement, {"now": now}).rowcount)


__all__ = ["TARGET", "apply_event", "event_update"]
