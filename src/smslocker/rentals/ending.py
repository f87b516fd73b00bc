"""Ending a rental: released, cancelled or expired, all the same three steps.

1. The rental: ``status`` active -> the end status, compare-and-set, so a release racing
   the sweeper ends the rental exactly once. ``ended_at`` is now for a release or a
   cancel, and the expiry time for an expiry (however late the sweeper runs), and
   ``window_end`` becomes ``ended_at + grace``: messages up to then still belong to it.
2. The number: RESERVED/IN_USE -> RELEASED, and ``busy_until = window_end``, so nobody
   rents it while this rental's window is open (the routing rule needs windows of one
   number never to overlap). ``busy_until`` is set even if an operator moved the number
   elsewhere (quarantine, retire) meanwhile.
3. The refund: a rental that received no SMS is refunded in full, with a ledger row.
   Step 1 decides it (``refunded = price`` when ``messages_count`` is 0), on the rental
   row as it is locked, so a message that ingest committed first always counts.

Lock order, everywhere a rental ends: rental row, then number row, then account row.
Rent takes number (skipping locked ones) then account, and ingest takes rental then
number, so no cycle can form and PostgreSQL never has to break a deadlock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Connection, bindparam, case, update

from smslocker.guard import audit
from smslocker.pool.lifecycle import NumberEvent
from smslocker.pool.transitions import event_update
from smslocker.settings import PolicySettings
from smslocker.store.models import Number, Rental

from .changes import RentalObserver, ending_change
from .credits import REFUND, credit
from .views import RENTAL_COLUMNS, RentalStatus, RentalView


@cache
def _end_statement(expiry: bool, by_renter: bool) -> Any:
    """The compare-and-set that ends an active rental, built once per kind of end.

    An expiry keeps ``window_end``: it already is ``expires_at + grace`` (rent and extend
    keep it so), and ``ended_at`` is ``expires_at`` however late the sweeper runs.
    """
    conditions = [Rental.id == bindparam("rental"), Rental.status == RentalStatus.ACTIVE.value]
    values: dict[str, Any] = {
        "status": bindparam("status"),
        "end_reason": bindparam("status"),
        # The refund rule, decided on the row as it is locked: no SMS, the full price back.
        "refunded": case((Rental.messages_count == 0, Rental.price), else_=0),
    }
    if expiry:
        conditions.append(Rental.expires_at <= bindparam("now"))
        values["ended_at"] = Rental.expires_at
    else:
        conditions.append(Rental.expires_at > bindparam("now"))
        values |= {"ended_at": bindparam("now"), "window_end": bindparam("window_end")}
    if by_renter:
        conditions.append(Rental.account_id == bindparam("account"))
    return update(Rental).where(*conditions).values(**values).returning(*RENTAL_COLUMNS)


_END_NUMBER = event_update(
    NumberEvent.END, Number.id == bindparam("number"), busy_until=bindparam("busy_until")
)
_NUMBER_BUSY_UNTIL = (
    update(Number)
    .where(Number.id == bindparam("number"))
    .values(busy_until=bindparam("busy_until"))
)


def end_rental(
    connection: Connection,
    rental_id: str,
    status: RentalStatus,
    now: datetime,
    policy: PolicySettings,
    *,
    account_id: int | None = None,
    observer: RentalObserver | None = None,
) -> RentalView | None:
    """End the active rental ``rental_id`` with ``status``; None if it was not active.

    For a release or cancel (``account_id`` given: it must be the renter's) the rental
    must not have reached ``expires_at`` yet; for an expiry it must have. ``observer``
    sees the ended rental in this transaction (:mod:`.changes`).
    """
    expiry = status is RentalStatus.EXPIRED
    statement = _end_statement(expiry, account_id is not None)
    parameters: dict[str, Any] = {"rental": rental_id, "status": status.value, "now": now}
    if not expiry:
        parameters["window_end"] = now + timedelta(seconds=policy.grace_s)
    if account_id is not None:
        parameters["account"] = account_id
    row = connection.execute(statement, parameters).first()
    if row is None:
        return None
    rental = RentalView.from_row(row)
    _free_number(connection, rental, now)
    if rental.refunded:
        credit(connection, rental.account_id, rental.refunded, now, REFUND, rental.id)
    audit.rental_ended(connection, rental, now, by_renter=not expiry)
    if observer is not None:
        observer(connection, ending_change(status), rental)
    return rental


def _free_number(connection: Connection, rental: RentalView, now: datetime) -> None:
    parameters = {"number": rental.number_id, "busy_until": rental.window_end, "now": now}
    if not connection.execute(_END_NUMBER, parameters).rowcount:
        connection.execute(_NUMBER_BUSY_UNTIL, parameters)


__all__ = ["end_rental"]
