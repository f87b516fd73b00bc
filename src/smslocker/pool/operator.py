"""An operator's moves of one number: quarantine, retire, free.

Each is one transaction that reads the number's state (locking its row on PostgreSQL)
and applies the lifecycle table's event as a compare-and-set (:mod:`.transitions`), so a
move the table does not allow raises :class:`~.lifecycle.InvalidTransition` and changes
nothing.

Quarantining or retiring a rented number does not end its rental: the renter keeps
receiving until the rental ends (routing goes by the rental's window, not the number's
state), and the end of the rental leaves the number where the operator put it. Freeing
a number is refused while a rental of it is still active (:class:`NumberBusy`); even
then, a freed number is not rented before its last rental's window has closed
(``busy_until``, see :func:`~.selection.rentable`).
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, exists, select

from smslocker.store.db import Database
from smslocker.store.models import Number, Rental

from .lifecycle import InvalidTransition, NumberEvent, NumberState, next_state
from .numbers import NumberView
from .transitions import apply_event

#: The events an operator's "free" applies, by the state the number is in.
_FREEING = {
    NumberState.QUARANTINE: NumberEvent.UNQUARANTINE,
    NumberState.COOLDOWN: NumberEvent.RESTED,
}


class OperatorError(Exception):
    """Base of this module's errors; ``str()`` is a message for the operator."""


class UnknownNumber(OperatorError):
    """The pool has no such number."""


class NumberBusy(OperatorError):
    """The number still belongs to an active rental."""


async def quarantine_number(
    db: Database, e164: str, now: datetime, *, until: datetime | None
) -> NumberView:
    """Send ``e164`` to QUARANTINE until ``until`` (the sweeper frees it then), or until
    an operator frees it when ``until`` is None."""
    return await db.run_write(
        partial(_move, e164=e164, event=NumberEvent.QUARANTINE, now=now, state_until=until)
    )


async def retire_number(db: Database, e164: str, now: datetime) -> NumberView:
    """Take ``e164`` out of the pool for good (RETIRED is final)."""
    return await db.run_write(
        partial(_move, e164=e164, event=NumberEvent.RETIRE, now=now, state_until=None)
    )


async def free_number(db: Database, e164: str, now: datetime) -> NumberView:
    """End a quarantine or a cooldown now: the number is FREE again."""
    return await db.run_write(partial(_free, e164=e164, now=now))


def _locked_state(connection: Connection, e164: str) -> tuple[int, NumberState]:
    row = connection.execute(
        select(Number.id, Number.state).where(Number.e164 == e164).with_for_update()
    ).first()
    if row is None:
        raise UnknownNumber(f"{e164} is not in the pool")
    return int(row.id), NumberState(row.state)


def _move(
    connection: Connection,
    e164: str,
    event: NumberEvent,
    now: datetime,
    state_until: datetime | None,
    **values: Any,
) -> NumberView:
    number_id, state = _locked_state(connection, e164)
    next_state(state, event)  # raises InvalidTransition
    moved = apply_event(
        connection, event, now, Number.id == number_id, state_until=state_until, **values
    )
    if moved != 1:  # pragma: no cover - the row is locked (or SQLite's writer is ours)
        raise InvalidTransition(state, event)
    return _view(connection, number_id)


def _free(connection: Connection, e164: str, now: datetime) -> NumberView:
    number_id, state = _locked_state(connection, e164)
    event = _FREEING.get(state)
    if event is None:
        raise InvalidTransition(state, NumberEvent.UNQUARANTINE)
    active = connection.execute(
        select(exists().where(Rental.number_id == number_id, Rental.status == "active"))
    ).scalar_one()
    if active:
        raise NumberBusy(f"{e164} still has an active rental")
    values: dict[str, Any] = {"probe_failure_streak": 0} if state is NumberState.QUARANTINE else {}
    return _move(connection, e164, event, now, None, **values)


def _view(connection: Connection, number_id: int) -> NumberView:
    columns = list(Number.__table__.columns)
    row = connection.execute(select(*columns).where(Number.id == number_id)).one()
    return NumberView.from_row(row)


__all__ = [
    "NumberBusy",
    "OperatorError",
    "UnknownNumber",
    "free_number",
    "quarantine_number",
    "retire_number",
]
