"""The sweeper: time-driven moves of rentals and numbers.

One :func:`sweep` at ``now``:

1. expires active rentals past ``expires_at`` (each in its own transaction, in the lock
   order of :mod:`.ending`; refunds as for any end);
2. retires RELEASED numbers that reached ``policy.rotation_limit`` rentals;
3. rests the other RELEASED numbers: COOLDOWN until ``max(now + cooldown, busy_until)``,
   so a number is never free before its last rental's window has closed;
4. frees COOLDOWN and QUARANTINE numbers whose ``state_until`` has passed (a quarantine
   without ``state_until`` waits for an operator); a freed quarantined number's probe
   failure streak starts again from zero.

Every step is a compare-and-set, so a sweep racing a release, another sweep, or another
process's sweep moves each rental and number once; the bulk moves of numbers skip rows
another sweep holds rather than wait for them (PostgreSQL would otherwise have to break
deadlocks between concurrent sweeps). :func:`run_sweeper` repeats it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection, case, select

from smslocker.log import get_logger
from smslocker.pool.health import fail_overdue_probes
from smslocker.pool.lifecycle import NumberEvent, NumberState
from smslocker.pool.transitions import apply_event
from smslocker.settings import PolicySettings
from smslocker.store.db import Database
from smslocker.store.models import Number, Rental
from smslocker.store.types import utcnow

from .changes import TransactionObserver
from .ending import end_rental
from .views import RentalStatus

log = get_logger(__name__)

#: Expired rentals looked up per query (each is then ended in its own transaction).
EXPIRE_BATCH = 500


@dataclass(frozen=True, slots=True)
class SweepCounts:
    """What one sweep moved."""

    expired: int = 0
    retired: int = 0
    rested: int = 0
    freed: int = 0
    unquarantined: int = 0


async def sweep(
    db: Database,
    now: datetime,
    policy: PolicySettings,
    *,
    observer: TransactionObserver | None = None,
) -> SweepCounts:
    """Apply every move due at ``now`` (see the module docstring); returns the counts.

    ``observer`` sees each expiry inside its transaction (:mod:`.changes`), then hears
    whether it committed.
    """
    expired = await expire_rentals(db, now, policy, observer=observer)
    moved = await db.run_write(partial(_move_numbers, now=now, policy=policy))
    return SweepCounts(expired, *moved)


async def expire_rentals(
    db: Database,
    now: datetime,
    policy: PolicySettings,
    *,
    observer: TransactionObserver | None = None,
) -> int:
    """End every active rental whose ``expires_at`` has come; returns how many."""
    expired = 0
    while True:
        async with db.read() as connection:
            due = await connection.execute(
                select(Rental.id)
                .where(Rental.status == RentalStatus.ACTIVE.value, Rental.expires_at <= now)
                .order_by(Rental.expires_at)
                .limit(EXPIRE_BATCH)
            )
            rental_ids = list(due.scalars())
        for rental_id in rental_ids:
            end = partial(
                end_rental,
                rental_id=rental_id,
                status=RentalStatus.EXPIRED,
                now=now,
                policy=policy,
                observer=observer,
            )
            try:
                ended = await db.run_write(end)
            except BaseException:
                if observer is not None:
                    observer.rolled_back()
                raise
            if observer is not None:
                await observer.committed()
            expired += ended is not None
        if len(rental_ids) < EXPIRE_BATCH:
            return expired


def _move_numbers(
    connection: Connection, now: datetime, policy: PolicySettings
) -> tuple[int, int, int, int]:
    """Retire, rest, free and unquarantine: (retired, rested, freed, unquarantined)."""
    retired = _retire_worn_out(connection, now, policy.rotation_limit)
    rested = _rest_released(connection, now, policy.cooldown_s)
    freed = apply_event(
        connection,
        NumberEvent.RESTED,
        now,
        Number.state_until <= now,
        skip_locked=True,
        state_until=None,
    )
    unquarantined = apply_event(
        connection,
        NumberEvent.UNQUARANTINE,
        now,
        Number.state_until <= now,
        skip_locked=True,
        state_until=None,
        probe_failure_streak=0,
    )
    return retired, rested, freed, unquarantined


def _retire_worn_out(connection: Connection, now: datetime, limit: int | None) -> int:
    if limit is None:
        return 0
    return apply_event(
        connection,
        NumberEvent.RETIRE,
        now,
        Number.rentals_count >= limit,
        only_from=[NumberState.RELEASED],
        skip_locked=True,
        state_until=None,
    )


def _rest_released(connection: Connection, now: datetime, cooldown_s: int) -> int:
    cooldown_end = now + timedelta(seconds=cooldown_s)
    # max(now + cooldown, busy_until) in SQL; CASE is spelled the same on both databases.
    until = case(
        (Number.busy_until > cooldown_end, Number.busy_until),
        else_=cooldown_end,
    )
    return apply_event(connection, NumberEvent.REST, now, skip_locked=True, state_until=until)


async def run_sweeper(
    db: Database,
    policy: PolicySettings,
    *,
    interval: float = 1.0,
    clock: Callable[[], datetime] = utcnow,
    observer: TransactionObserver | None = None,
) -> None:
    """Sweep every ``interval`` seconds until cancelled; fail the overdue health probes too.

    A failed sweep (the database went away for a moment) is logged and the next one
    tries again: everything it does is idempotent.
    """
    while True:
        now = clock()
        try:
            counts = await sweep(db, now, policy, observer=observer)
            probes = await fail_overdue_probes(db, now, policy)
        except Exception as error:
            log.warning("sweeper.failed", error=repr(error))
        else:
            if counts != SweepCounts():
                log.debug("sweeper.swept", **asdict(counts))
            if probes.failed:
                log.info("sweeper.probes_failed", **asdict(probes))
        await asyncio.sleep(interval)


__all__ = ["EXPIRE_BATCH", "SweepCounts", "expire_rentals", "run_sweeper", "sweep"]
