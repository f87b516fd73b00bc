"""The rental use cases: rent, extend, release, cancel, and reading rentals.

Each is one short function over one write transaction; ``now`` comes from the caller
(the API passes the clock, tests a fake one). Time rules:

- A rental lasts ``duration_s`` (default ``policy.rental_ttl_s``), never longer than
  ``policy.max_rental_s`` from its start, extensions included.
- It is active while ``status`` is active and ``now < expires_at``; from ``expires_at``
  on only the sweeper may end it (as expired), so release and cancel then raise
  :class:`~.errors.RentalNotActive`.
- An extension is free: the price buys the number for the service, not the minutes (the
  rental's price is charged once, and refunded if no SMS came).
- Release (the renter is done) and cancel differ only in the recorded reason: both are
  refunded in full when no SMS arrived, neither otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from smslocker.guard import audit
from smslocker.pool.lifecycle import NumberEvent
from smslocker.pool.phone import InvalidNumber, normalise
from smslocker.pool.selection import Criteria, Picked, pick_number
from smslocker.pool.tags import record_use
from smslocker.pool.transitions import event_update
from smslocker.settings import PolicySettings
from smslocker.store.db import Database
from smslocker.store.models import Number, Rental
from smslocker.store.types import new_id

from .changes import RentalChange, RentalObserver
from .credits import RENTAL, charge, price_for
from .ending import end_rental
from .errors import (
    InvalidRequest,
    NoNumberAvailable,
    NumberNotFound,
    NumberNotRentable,
    RentalLimitReached,
    RentalNotActive,
    RentalNotFound,
)
from .views import RENTAL_COLUMNS, RentalStatus, RentalView, RentRequest

# Built once, executed with parameters: the rent path runs these on every call.
_INSERT_RENTAL = insert(Rental).returning(*RENTAL_COLUMNS)
_RESERVE = event_update(
    NumberEvent.RENT,
    Number.id == bindparam("number"),
    state_until=None,
    last_used_at=bindparam("now"),
    rentals_count=Number.rentals_count + 1,
)


async def rent(
    db: Database,
    account_id: int,
    request: RentRequest,
    now: datetime,
    policy: PolicySettings,
    *,
    observer: RentalObserver | None = None,
) -> RentalView:
    """Rent a number for ``account_id``: pick it, charge the price, reserve it.

    Every use case here takes an ``observer`` that sees the change inside its
    transaction (:mod:`.changes`). Raises :class:`~.errors.NoNumberAvailable`,
    :class:`~.errors.NumberNotFound` or
    :class:`~.errors.NumberNotRentable` (an explicit number), :class:`~.errors.
    InsufficientCredit`, :class:`~.errors.AccountNotFound`, :class:`~.errors.
    InvalidRequest`; on any of them nothing changed.
    """
    criteria = _criteria(request)
    duration_s = _duration(request.duration_s, policy)
    return await db.run_write(
        partial(
            _rent,
            account_id=account_id,
            criteria=criteria,
            duration_s=duration_s,
            now=now,
            policy=policy,
            observer=observer,
        )
    )


def _rent(
    connection: Connection,
    account_id: int,
    criteria: Criteria,
    duration_s: int,
    now: datetime,
    policy: PolicySettings,
    observer: RentalObserver | None = None,
) -> RentalView:
    picked = pick_number(connection, criteria, now, policy)
    if picked is None:
        raise _nothing_to_rent(connection, criteria)
    rental_id = new_id("rnt_")
    price = price_for(connection, criteria.service, picked.country, policy.default_price)
    charge(connection, account_id, price, now, RENTAL, rental_id)
    _reserve(connection, picked, now)
    if criteria.service:
        record_use(connection, picked.id, criteria.service, now)
    expires_at = now + timedelta(seconds=duration_s)
    row = connection.execute(
        _INSERT_RENTAL,
        {
            "id": rental_id,
            "account_id": account_id,
            "number_id": picked.id,
            "number": picked.e164,
            "service": criteria.service,
            "country": picked.country,
            "status": RentalStatus.ACTIVE.value,
            "started_at": now,
            "expires_at": expires_at,
            "window_end": expires_at + timedelta(seconds=policy.grace_s),
            "price": price,
            "refunded": 0,
            "messages_count": 0,
        },
    ).one()
    rental = RentalView.from_row(row)
    audit.rental_started(connection, rental, now)
    if observer is not None:
        observer(connection, RentalChange.CREATED, rental)
    return rental


async def extend(
    db: Database,
    account_id: int,
    rental_id: str,
    now: datetime,
    policy: PolicySettings,
    *,
    duration_s: int | None = None,
    observer: RentalObserver | None = None,
) -> RentalView:
    """Push the active rental's end back by ``duration_s`` (default the TTL), up to
    ``policy.max_rental_s`` after its start; raises :class:`~.errors.RentalLimitReached`
    when it is there already."""
    extra = timedelta(seconds=_duration(duration_s, policy))

    def extend_rental(connection: Connection) -> RentalView:
        rental = _active_for_update(connection, account_id, rental_id, now)
        limit = rental.started_at + timedelta(seconds=policy.max_rental_s)
        expires_at = min(rental.expires_at + extra, limit)
        if expires_at <= rental.expires_at:
            raise RentalLimitReached(
                f"rental {rental_id} cannot last beyond {policy.max_rental_s} s"
            )
        result = connection.execute(
            update(Rental)
            .where(Rental.id == rental_id, Rental.status == RentalStatus.ACTIVE.value)
            .values(
                expires_at=expires_at,
                window_end=expires_at + timedelta(seconds=policy.grace_s),
            )
            .returning(*RENTAL_COLUMNS)
        )
        extended = RentalView.from_row(result.one())
        if observer is not None:
            observer(connection, RentalChange.EXTENDED, extended)
        return extended

    return await db.run_write(extend_rental)


async def release(
    db: Database,
    account_id: int,
    rental_id: str,
    now: datetime,
    policy: PolicySettings,
    *,
    observer: RentalObserver | None = None,
) -> RentalView:
    """The renter is done: end the rental as completed (refunded if no SMS came)."""
    return await db.run_write(
        partial(
            _end_by_renter,
            account_id=account_id,
            rental_id=rental_id,
            status=RentalStatus.COMPLETED,
            now=now,
            policy=policy,
            observer=observer,
        )
    )


async def cancel(
    db: Database,
    account_id: int,
    rental_id: str,
    now: datetime,
    policy: PolicySettings,
    *,
    observer: RentalObserver | None = None,
) -> RentalView:
    """The renter gives up: end the rental as cancelled (refunded if no SMS came)."""
    return await db.run_write(
        partial(
            _end_by_renter,
            account_id=account_id,
            rental_id=rental_id,
            status=RentalStatus.CANCELLED,
            now=now,
            policy=policy,
            observer=observer,
        )
    )


async def get_rental(db: Database, account_id: int, rental_id: str) -> RentalView:
    """The account's rental ``rental_id`` (:class:`~.errors.RentalNotFound` for anyone else's)."""
    async with db.read() as connection:
        row = (await connection.execute(_owned_query(account_id, rental_id))).first()
    if row is None:
        raise RentalNotFound(f"no rental {rental_id}")
    return RentalView.from_row(row)


async def list_rentals(
    db: Database, account_id: int, *, active_only: bool = False, limit: int = 50
) -> list[RentalView]:
    """The account's rentals, newest first."""
    query = (
        select(*RENTAL_COLUMNS)
        .where(Rental.account_id == account_id)
        .order_by(Rental.started_at.desc())
        .limit(limit)
    )
    if active_only:
        query = query.where(Rental.status == RentalStatus.ACTIVE.value)
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [RentalView.from_row(row) for row in rows]


# --------------------------------------------------------------------------- helpers


def _criteria(request: RentRequest) -> Criteria:
    number = None
    if request.number is not None:
        try:
            number = normalise(request.number, country=request.country).e164
        except InvalidNumber as error:
            raise NumberNotFound(str(error)) from None
    return Criteria(
        number=number,
        country=request.country,
        service=request.service,
        carrier=request.carrier,
        mobile_only=request.mobile_only,
    )


def _duration(duration_s: int | None, policy: PolicySettings) -> int:
    if duration_s is None:
        return min(policy.rental_ttl_s, policy.max_rental_s)
    if duration_s <= 0:
        raise InvalidRequest("a duration must be a positive number of seconds")
    return min(duration_s, policy.max_rental_s)


def _nothing_to_rent(
    connection: Connection, criteria: Criteria
) -> NoNumberAvailable | NumberNotFound | NumberNotRentable:
    if criteria.number is None:
        return NoNumberAvailable("no number matches right now; try again later")
    state = connection.scalar(select(Number.state).where(Number.e164 == criteria.number))
    if state is None:
        return NumberNotFound(f"{criteria.number} is not in the pool")
    return NumberNotRentable(f"{criteria.number} is not free ({state.lower()})")


def _reserve(connection: Connection, picked: Picked, now: datetime) -> None:
    moved = connection.execute(_RESERVE, {"number": picked.id, "now": now}).rowcount
    if moved != 1:  # selection locked it (PostgreSQL) or holds the writer (SQLite)
        raise NumberNotRentable(f"{picked.e164} was taken meanwhile")


def _owned_query(account_id: int, rental_id: str) -> Any:
    return select(*RENTAL_COLUMNS).where(Rental.id == rental_id, Rental.account_id == account_id)


def _active_for_update(
    connection: Connection, account_id: int, rental_id: str, now: datetime
) -> RentalView:
    row = connection.execute(_owned_query(account_id, rental_id).with_for_update()).first()
    if row is None:
        raise RentalNotFound(f"no rental {rental_id}")
    rental = RentalView.from_row(row)
    if not rental.active or rental.expires_at <= now:
        raise RentalNotActive(f"rental {rental_id} has ended")
    return rental


def _end_by_renter(
    connection: Connection,
    account_id: int,
    rental_id: str,
    status: RentalStatus,
    now: datetime,
    policy: PolicySettings,
    observer: RentalObserver | None = None,
) -> RentalView:
    ended = end_rental(
        connection, rental_id, status, now, policy, account_id=account_id, observer=observer
    )
    if ended is not None:
        return ended
    if connection.execute(_owned_query(account_id, rental_id)).first() is None:
        raise RentalNotFound(f"no rental {rental_id}")
    raise RentalNotActive(f"rental {rental_id} has ended")


__all__ = ["cancel", "extend", "get_rental", "list_rentals", "release", "rent"]
