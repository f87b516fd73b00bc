"""The sweeper: expiry, rest, cooldown, quarantine release, retirement."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rental_support import POLICY, T0, add_pool, new_account, number_state, seconds
from sqlalchemy import update

from smslocker.rentals import (
    RentalNotActive,
    RentRequest,
    SweepCounts,
    balance_of,
    get_rental,
    release,
    rent,
    run_sweeper,
    sweep,
)
from smslocker.store.models import Number


async def test_an_expired_rental_ends_at_its_expiry_however_late_the_sweep(database: Any) -> None:
    (number_id,) = await add_pool(database, 1)
    account = await new_account(database)
    rental = await rent(database, account, RentRequest(), T0, POLICY)
    assert await sweep(database, rental.expires_at - seconds(1), POLICY) == SweepCounts()
    late = rental.expires_at + seconds(45)
    counts = await sweep(database, late, POLICY)
    assert (counts.expired, counts.rested) == (1, 1)
    expired = await get_rental(database, account, rental.id)
    assert (expired.status, expired.end_reason) == ("expired", "expired")
    assert (expired.ended_at, expired.window_end) == (rental.expires_at, rental.window_end)
    assert expired.refunded == 100
    assert await balance_of(database, account) == 1000
    number = await number_state(database, number_id)
    assert (number.state, number.busy_until) == ("COOLDOWN", rental.window_end)
    assert number.state_until == late + seconds(POLICY.cooldown_s)


async def test_cooldown_lasts_until_the_window_has_closed(database: Any) -> None:
    (number_id,) = await add_pool(database, 1)
    account = await new_account(database)
    policy = POLICY.model_copy(update={"cooldown_s": 0, "grace_s": 300})
    rental = await rent(database, account, RentRequest(), T0, policy)
    ended = await release(database, account, rental.id, T0 + seconds(5), policy)
    await sweep(database, T0 + seconds(6), policy)
    number = await number_state(database, number_id)
    assert (number.state, number.state_until) == ("COOLDOWN", ended.window_end)
    assert (await sweep(database, ended.window_end - seconds(1), policy)).freed == 0
    assert (await sweep(database, ended.window_end, policy)).freed == 1
    number = await number_state(database, number_id)
    assert (number.state, number.state_until) == ("FREE", None)


async def test_quarantine_ends_on_its_timer_only(database: Any) -> None:
    timed, forever = await add_pool(database, 2)
    async with database.write() as connection:
        await connection.execute(
            update(Number)
            .where(Number.id == timed)
            .values(state="QUARANTINE", state_until=T0 + seconds(60), probe_failure_streak=3)
        )
        await connection.execute(
            update(Number).where(Number.id == forever).values(state="QUARANTINE")
        )
    assert (await sweep(database, T0 + seconds(59), POLICY)).unquarantined == 0
    assert (await sweep(database, T0 + seconds(3600), POLICY)).unquarantined == 1
    freed = await number_state(database, timed)
    assert (freed.state, freed.probe_failure_streak) == ("FREE", 0)
    assert (await number_state(database, forever)).state == "QUARANTINE"


async def test_a_number_at_its_rotation_limit_is_retired(database: Any) -> None:
    (number_id,) = await add_pool(database, 1)
    account = await new_account(database)
    policy = POLICY.model_copy(update={"rotation_limit": 2, "cooldown_s": 0, "grace_s": 0})
    now = T0
    for round_ in range(2):
        rental = await rent(database, account, RentRequest(), now, policy)
        await release(database, account, rental.id, now + seconds(1), policy)
        counts = await sweep(database, now + seconds(2), policy)
        now += seconds(10)
        await sweep(database, now, policy)
        assert counts.retired == round_  # retired after its second rental
    number = await number_state(database, number_id)
    assert (number.state, number.rentals_count) == ("RETIRED", 2)


async def test_a_sweep_racing_releases_ends_each_rental_once(database: Any) -> None:
    await add_pool(database, 20)
    account = await new_account(database, balance=10_000)
    rentals = [await rent(database, account, RentRequest(), T0, POLICY) for _ in range(20)]
    # One second before expiry the renters release; the sweeper runs "after" expiry.
    at_expiry = rentals[0].expires_at

    async def renter_release(rental_id: str) -> str:
        try:
            await release(database, account, rental_id, at_expiry - seconds(1), POLICY)
        except RentalNotActive:
            return "lost"
        return "released"

    results = await asyncio.gather(
        sweep(database, at_expiry, POLICY),
        *(renter_release(rental.id) for rental in rentals),
    )
    counts, outcomes = results[0], results[1:]
    assert counts.expired + outcomes.count("released") == 20
    assert await balance_of(database, account) == 10_000  # each refunded exactly once


@pytest.mark.parametrize("sweepers", [4])
async def test_concurrent_sweeps_move_each_number_once(database: Any, sweepers: int) -> None:
    await add_pool(database, 10)
    account = await new_account(database, balance=10_000)
    for _ in range(10):
        await rent(database, account, RentRequest(), T0, POLICY)
    later = T0 + seconds(POLICY.rental_ttl_s)
    results = await asyncio.gather(*(sweep(database, later, POLICY) for _ in range(sweepers)))
    assert sum(result.expired for result in results) == 10
    assert sum(result.rested for result in results) == 10


async def test_the_sweeper_loop_sweeps_until_cancelled(database: Any) -> None:
    await add_pool(database, 1)
    account = await new_account(database)
    rental = await rent(database, account, RentRequest(), T0, POLICY)
    readings = 0
    second_sweep = asyncio.Event()

    def clock() -> Any:
        nonlocal readings
        readings += 1
        if readings == 2:  # the first sweep has finished
            second_sweep.set()
        return rental.expires_at

    task = asyncio.create_task(run_sweeper(database, POLICY, interval=0.01, clock=clock))
    try:
        await asyncio.wait_for(second_sweep.wait(), 5)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert (await get_rental(database, account, rental.id)).status == "expired"
