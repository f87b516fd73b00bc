"""Rent, extend, release and cancel: what each changes, and what each refuses."""

from __future__ import annotations

from typing import Any

import pytest
from rental_support import (
    POLICY,
    T0,
    add_message,
    add_pool,
    new_account,
    number_state,
    seconds,
    us,
)
from sqlalchemy import select

from smslocker.rentals import (
    InsufficientCredit,
    InvalidRequest,
    NoNumberAvailable,
    NumberNotFound,
    NumberNotRentable,
    RentalLimitReached,
    RentalNotActive,
    RentalNotFound,
    RentRequest,
    balance_of,
    cancel,
    extend,
    get_rental,
    ledger_of,
    list_rentals,
    release,
    rent,
    set_price,
)
from smslocker.store.models import Rental, ServiceTag


async def test_rent_charges_reserves_and_tags(database: Any) -> None:
    (number_id,) = await add_pool(database, 1)
    account = await new_account(database, balance=1000)
    await set_price(database, 40, service="google", country="US")
    rental = await rent(database, account, RentRequest(service="google"), T0, POLICY)
    assert rental.id.startswith("rnt_")
    assert (rental.number, rental.number_id, rental.country) == (us(0), number_id, "US")
    assert (rental.status, rental.price, rental.refunded) == ("active", 40, 0)
    assert rental.expires_at == T0 + seconds(POLICY.rental_ttl_s)
    assert rental.window_end == rental.expires_at + seconds(POLICY.grace_s)
    number = await number_state(database, number_id)
    assert (number.state, number.last_used_at, number.rentals_count) == ("RESERVED", T0, 1)
    assert await balance_of(database, account) == 960
    (charge, _opening) = await ledger_of(database, account)
    assert (charge.amount, charge.reason, charge.rental_id) == (-40, "rental", rental.id)
    async with database.read() as connection:
        tag = (await connection.execute(select(ServiceTag))).one()
    assert (tag.number_id, tag.service, tag.uses, tag.last_used_at) == (number_id, "google", 1, T0)
    assert await get_rental(database, account, rental.id) == rental
    assert await list_rentals(database, account, active_only=True) == [rental]


async def test_a_refused_rent_changes_nothing(database: Any) -> None:
    (number_id,) = await add_pool(database, 1)
    account = await new_account(database, balance=99)
    with pytest.raises(InsufficientCredit):
        await rent(database, account, RentRequest(), T0, POLICY)
    assert (await number_state(database, number_id)).state == "FREE"
    assert await balance_of(database, account) == 99
    async with database.read() as connection:
        assert (await connection.execute(select(Rental))).all() == []


async def test_no_number_left(database: Any) -> None:
    await add_pool(database, 1)
    account = await new_account(database)
    await rent(database, account, RentRequest(), T0, POLICY)
    with pytest.raises(NoNumberAvailable):
        await rent(database, account, RentRequest(), T0, POLICY)
    with pytest.raises(NoNumberAvailable):
        await rent(database, account, RentRequest(country="DE"), T0, POLICY)


async def test_renting_a_number_by_name(database: Any) -> None:
    await add_pool(database, 2)
    account = await new_account(database)
    rental = await rent(
        database, account, RentRequest(number="(415) 555-0001", country="US"), T0, POLICY
    )
    assert rental.number == us(1)
    with pytest.raises(NumberNotRentable, match="not free"):
        await rent(database, account, RentRequest(number=us(1)), T0, POLICY)
    with pytest.raises(NumberNotFound, match="not in the pool"):
        await rent(database, account, RentRequest(number=us(7)), T0, POLICY)
    with pytest.raises(NumberNotFound, match="not a valid number"):
        await rent(database, account, RentRequest(number="+1 12"), T0, POLICY)


async def test_durations_are_capped_and_checked(database: Any) -> None:
    await add_pool(database, 2)
    account = await new_account(database)
    rental = await rent(database, account, RentRequest(duration_s=10**9), T0, POLICY)
    assert rental.expires_at == T0 + seconds(POLICY.max_rental_s)
    for bad in (0, -1):
        with pytest.raises(InvalidRequest):
            await rent(database, account, RentRequest(duration_s=bad), T0, POLICY)


async def test_extend_moves_the_end_and_the_window_up_to_the_limit(database: Any) -> None:
    await add_pool(database, 1)
    account = await new_account(database)
    rental = await rent(database, account, RentRequest(), T0, POLICY)
    longer = await extend(database, account, rental.id, T0 + seconds(60), POLICY, duration_s=300)
    assert longer.expires_at == rental.expires_at + seconds(300)
    assert longer.window_end == longer.expires_at + seconds(POLICY.grace_s)
    longest = await extend(database, account, rental.id, T0 + seconds(61), POLICY, duration_s=10**6)
    assert longest.expires_at == T0 + seconds(POLICY.max_rental_s)
    with pytest.raises(RentalLimitReached):
        await extend(database, account, rental.id, T0 + seconds(62), POLICY)
    assert await balance_of(database, account) == 900  # extensions are free


async def test_an_extension_needs_an_active_rental_of_ones_own(database: Any) -> None:
    await add_pool(database, 1)
    alice, bob = await new_account(database), await new_account(database, name="bob")
    rental = await rent(database, alice, RentRequest(), T0, POLICY)
    with pytest.raises(RentalNotFound):
        await extend(database, bob, rental.id, T0, POLICY)
    with pytest.raises(RentalNotActive):
        await extend(database, alice, rental.id, rental.expires_at, POLICY)
    with pytest.raises(RentalNotFound):
        await extend(database, alice, "rnt_nope", T0, POLICY)


@pytest.mark.parametrize(("end", "status"), [(release, "completed"), (cancel, "cancelled")])
async def test_an_end_without_sms_is_refunded(database: Any, end: Any, status: str) -> None:
    (number_id,) = await add_pool(database, 1)
    account = await new_account(database)
    rental = await rent(database, account, RentRequest(), T0, POLICY)
    ended = await end(database, account, rental.id, T0 + seconds(30), POLICY)
    assert (ended.status, ended.end_reason, ended.refunded) == (status, status, 100)
    assert ended.ended_at == T0 + seconds(30)
    assert ended.window_end == T0 + seconds(30 + POLICY.grace_s)
    number = await number_state(database, number_id)
    assert (number.state, number.busy_until) == ("RELEASED", ended.window_end)
    assert await balance_of(database, account) == 1000
    refund = (await ledger_of(database, account))[0]
    assert (refund.amount, refund.reason, refund.rental_id) == (100, "refund", rental.id)


@pytest.mark.parametrize("end", [release, cancel])
async def test_an_end_after_an_sms_is_not_refunded(database: Any, end: Any) -> None:
    await add_pool(database, 1)
    account = await new_account(database)
    rental = await rent(database, account, RentRequest(), T0, POLICY)
    await add_message(database, rental.id)
    ended = await end(database, account, rental.id, T0 + seconds(30), POLICY)
    assert (ended.refunded, ended.messages_count) == (0, 1)
    assert await balance_of(database, account) == 900


async def test_a_rental_ends_once_and_only_for_its_renter(database: Any) -> None:
    await add_pool(database, 1)
    alice, bob = await new_account(database), await new_account(database, name="bob")
    rental = await rent(database, alice, RentRequest(), T0, POLICY)
    with pytest.raises(RentalNotFound):
        await release(database, bob, rental.id, T0, POLICY)
    await release(database, alice, rental.id, T0 + seconds(1), POLICY)
    for end in (release, cancel):
        with pytest.raises(RentalNotActive):
            await end(database, alice, rental.id, T0 + seconds(2), POLICY)
    assert await balance_of(database, alice) == 1000  # refunded once


async def test_an_expired_rental_is_the_sweepers_to_end(database: Any) -> None:
    await add_pool(database, 1)
    account = await new_account(database)
    rental = await rent(database, account, RentRequest(), T0, POLICY)
    with pytest.raises(RentalNotActive):
        await release(database, account, rental.id, rental.expires_at, POLICY)


async def test_a_released_number_waits_for_its_window_and_cooldown(database: Any) -> None:
    from smslocker.rentals import sweep

    await add_pool(database, 1)
    account = await new_account(database, balance=10_000)
    policy = POLICY.model_copy(update={"cooldown_s": 0})
    first = await rent(database, account, RentRequest(), T0, policy)
    ended = await release(database, account, first.id, T0 + seconds(10), policy)
    await sweep(database, T0 + seconds(11), policy)
    with pytest.raises(NoNumberAvailable):  # the first rental's window is still open
        await rent(database, account, RentRequest(), T0 + seconds(12), policy)
    with pytest.raises(NumberNotRentable):
        await rent(database, account, RentRequest(number=us(0)), ended.window_end, policy)
    after = ended.window_end + seconds(1)
    await sweep(database, after, policy)
    second = await rent(database, account, RentRequest(number=us(0)), after, policy)
    assert second.started_at > ended.window_end
