"""Guarantee 3 — no double rental — under real concurrency.

Fifty renters rent from a pool of ten numbers, twenty times each, and release, cancel,
extend, receive messages or let rentals expire, while some of them run the sweeper.
On PostgreSQL these are real concurrent transactions (row locks, SKIP LOCKED); on SQLite
they queue for the single writer. After every step, no number is held by two live
rentals and every live rental's number is rented; at the end, no two rentals of one
number have overlapping windows (the routing rule needs that) and every balance equals
the sum of its ledger.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

from rental_support import (
    ACTIVE_ON_UNRENTED_NUMBER,
    DOUBLE_RENTALS,
    LEDGER_MISMATCH,
    OVERLAPPING_WINDOWS,
    T0,
    add_message,
    add_pool,
    new_account,
    seconds,
    us,
)

from smslocker.rentals import (
    NoNumberAvailable,
    NumberNotRentable,
    RentalError,
    RentRequest,
    cancel,
    extend,
    release,
    rent,
    sweep,
)
from smslocker.settings import PolicySettings

RENTERS, ROUNDS, POOL, ACCOUNTS = 50, 20, 10, 5
POLICY = PolicySettings(
    rental_ttl_s=10,
    max_rental_s=40,
    grace_s=2,
    cooldown_s=3,
    service_rotation_s=5,
    default_price=10,
)


class SharedClock:
    """One fake clock for every renter: each reading is a second later than the last."""

    def __init__(self) -> None:
        self.now = T0

    def tick(self) -> Any:
        self.now += seconds(1)
        return self.now


async def assert_invariants(db: Any, *, final: bool = False) -> None:
    async with db.read() as connection:
        assert (await connection.execute(DOUBLE_RENTALS)).all() == []
        assert (await connection.execute(ACTIVE_ON_UNRENTED_NUMBER)).all() == []
        if final:
            assert (await connection.execute(OVERLAPPING_WINDOWS)).all() == []
            assert (await connection.execute(LEDGER_MISMATCH)).all() == []


async def renter(db: Any, seed: int, accounts: list[int], clock: SharedClock) -> Counter[str]:
    rng = random.Random(seed)
    outcomes: Counter[str] = Counter()
    for _ in range(ROUNDS):
        account = rng.choice(accounts)
        request = rng.choice(
            [
                RentRequest(),
                RentRequest(service="svc"),
                RentRequest(number=us(rng.randrange(POOL))),
            ]
        )
        try:
            rental = await rent(db, account, request, clock.tick(), POLICY)
        except (NoNumberAvailable, NumberNotRentable) as error:
            outcomes[type(error).__name__] += 1
        else:
            outcomes["rented"] += 1
            await assert_invariants(db)
            await _then(db, rng, account, rental.id, clock, outcomes)
        if rng.random() < 0.2:
            await sweep(db, clock.tick(), POLICY)
            outcomes["sweeps"] += 1
        await assert_invariants(db)
        await asyncio.sleep(0)
    return outcomes


async def _then(
    db: Any,
    rng: random.Random,
    account: int,
    rental_id: str,
    clock: SharedClock,
    outcomes: Counter[str],
) -> None:
    """What the renter does with the rental: the sweeper may have ended it already."""
    if rng.random() < 0.5:
        await add_message(db, rental_id)
    action = rng.choice(["release", "cancel", "extend", "expire"])
    try:
        if action == "release":
            await release(db, account, rental_id, clock.tick(), POLICY)
        elif action == "cancel":
            await cancel(db, account, rental_id, clock.tick(), POLICY)
        elif action == "extend":
            await extend(db, account, rental_id, clock.tick(), POLICY, duration_s=10)
        outcomes[action] += 1
    except RentalError as error:
        outcomes[type(error).__name__] += 1


async def race(db: Any) -> Counter[str]:
    await add_pool(db, POOL)
    accounts = [await new_account(db, 10**6, name=f"acct{i}") for i in range(ACCOUNTS)]
    clock = SharedClock()
    # A TaskGroup, so that one failing renter stops the others before the database goes.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(renter(db, seed, accounts, clock)) for seed in range(RENTERS)]
    results = [task.result() for task in tasks]
    # Let every rental expire and every number come back, then check the whole history.
    await sweep(db, clock.tick() + seconds(POLICY.max_rental_s), POLICY)
    await assert_invariants(db, final=True)
    return sum(results, Counter())


async def test_no_double_rental_on_postgresql(postgres_database: Any) -> None:
    outcomes = await race(postgres_database)
    # The race really raced: many rentals, and renters turned away by a busy pool.
    assert outcomes["rented"] > 50, outcomes
    assert outcomes["NoNumberAvailable"] + outcomes["NumberNotRentable"] > 100, outcomes


async def test_no_double_rental_on_sqlite(sqlite_database: Any) -> None:
    outcomes = await race(sqlite_database)
    assert outcomes["rented"] > 50, outcomes
    assert outcomes["NoNumberAvailable"] + outcomes["NumberNotRentable"] > 100, outcomes
