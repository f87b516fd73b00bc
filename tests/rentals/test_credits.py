"""Accounts, the ledger and the price table."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rental_support import LEDGER_MISMATCH, T0, new_account

from smslocker.rentals import (
    AccountNotFound,
    InsufficientCredit,
    InvalidRequest,
    adjust,
    balance_of,
    create_account,
    delete_price,
    ledger_of,
    list_prices,
    set_price,
    top_up,
)
from smslocker.rentals.credits import charge, price_for


async def test_every_balance_change_is_a_ledger_row(database: Any) -> None:
    account = await new_account(database, balance=50)
    assert await top_up(database, account, 25, T0) == 75
    assert await adjust(database, account, -70, T0, reason="chargeback") == 5
    rows = await ledger_of(database, account)
    assert [(row.amount, row.reason, row.balance_after) for row in rows] == [
        (-70, "chargeback", 5),
        (25, "top_up", 75),
        (50, "top_up", 50),
    ]
    assert await balance_of(database, account) == 5


async def test_a_balance_never_goes_below_zero(database: Any) -> None:
    account = await new_account(database, balance=10)
    with pytest.raises(InsufficientCredit, match="balance 10 does not cover 11"):
        await adjust(database, account, -11, T0)
    assert await balance_of(database, account) == 10
    assert len(await ledger_of(database, account)) == 1


async def test_bad_amounts_and_unknown_accounts_are_refused(database: Any) -> None:
    account = await new_account(database)
    for amount in (0, -5):
        with pytest.raises(InvalidRequest):
            await top_up(database, account, amount, T0)
    with pytest.raises(InvalidRequest):
        await adjust(database, account, 0, T0)
    with pytest.raises(AccountNotFound):
        await top_up(database, 999, 5, T0)
    with pytest.raises(AccountNotFound):
        await balance_of(database, 999)
    with pytest.raises(InvalidRequest, match="exists already"):
        await create_account(database, "alice", T0)


async def test_concurrent_debits_never_overspend(database: Any) -> None:
    account = await new_account(database, balance=100)

    async def spend() -> bool:
        try:
            await database.run_write(
                lambda connection: charge(connection, account, 30, T0, "rental")
            )
        except InsufficientCredit:
            return False
        return True

    results = await asyncio.gather(*(spend() for _ in range(10)))
    assert sum(results) == 3
    assert await balance_of(database, account) == 10
    async with database.read() as connection:
        assert (await connection.execute(LEDGER_MISMATCH)).all() == []


async def test_the_most_specific_price_wins(database: Any) -> None:
    async def price(service: str | None, country: str | None) -> int:
        return await database.run_write(
            lambda connection: price_for(connection, service, country, 100)
        )

    assert await price("google", "US") == 100  # the policy default
    await set_price(database, 90)
    await set_price(database, 80, country="us")
    await set_price(database, 70, service="google")
    await set_price(database, 60, service="google", country="US")
    assert await price("google", "US") == 60
    assert await price("google", "DE") == 70
    assert await price("telegram", "US") == 80
    assert await price("telegram", "DE") == 90
    assert await price(None, "US") == 80
    assert await price(None, None) == 90


async def test_setting_a_price_twice_replaces_it(database: Any) -> None:
    await set_price(database, 5, country="FR")
    await set_price(database, 7, country="FR")
    await set_price(database, 9)
    await set_price(database, 11)
    prices = await list_prices(database)
    assert [(p.service, p.country, p.price) for p in prices] == [(None, "FR", 7), (None, None, 11)]
    assert await delete_price(database, country="FR")
    assert not await delete_price(database, country="FR")
    with pytest.raises(InvalidRequest):
        await set_price(database, -1)
