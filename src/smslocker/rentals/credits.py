"""Accounts, balances, the ledger and the price table.

Money is whole credits. Every change of a balance is one :class:`~smslocker.store.models.
LedgerEntry` with the balance after it, written in the same transaction as the change,
so an account's ledger always adds up to its balance. A debit is one conditional
``UPDATE ... WHERE balance >= :amount``: two concurrent rentals can never both spend the
last credits.

Prices: the most specific row wins — service and country, then service, then country,
then the (any, any) row — and ``policy.default_price`` when the table has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from smslocker.store.db import Database
from smslocker.store.models import Account, LedgerEntry, Price

from .errors import AccountNotFound, InsufficientCredit, InvalidRequest

# Ledger reasons.
TOP_UP, ADJUST, RENTAL, REFUND = "top_up", "adjust", "rental", "refund"


@dataclass(frozen=True, slots=True)
class LedgerRow:
    id: int
    rental_id: str | None
    amount: int
    reason: str
    balance_after: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PriceRow:
    """A row of the price table; None in service or country means "any"."""

    service: str | None
    country: str | None
    price: int


# --------------------------------------------------------------------------- accounts


async def create_account(
    db: Database, name: str, now: datetime, *, balance: int = 0, tier: str = "unverified"
) -> int:
    """A new account named ``name`` (unique), with an opening top-up of ``balance``."""
    if balance < 0:
        raise InvalidRequest("an opening balance cannot be negative")

    def create(connection: Connection) -> int:
        result = connection.execute(
            insert(Account)
            .values(name=name, balance=0, tier=tier, status="active", created_at=now)
            .returning(Account.id)
        )
        account_id = int(result.scalar_one())
        if balance:
            credit(connection, account_id, balance, now, TOP_UP)
        return account_id

    try:
        return await db.run_write(create)
    except IntegrityError as error:
        raise InvalidRequest(f"an account named {name!r} exists already") from error


async def balance_of(db: Database, account_id: int) -> int:
    async with db.read() as connection:
        balance = await connection.scalar(select(Account.balance).where(Account.id == account_id))
    if balance is None:
        raise AccountNotFound(f"no account {account_id}")
    return int(balance)


async def top_up(
    db: Database, account_id: int, amount: int, now: datetime, *, reason: str = TOP_UP
) -> int:
    """Add ``amount`` (> 0) credits; returns the new balance."""
    if amount <= 0:
        raise InvalidRequest("a top-up must be a positive amount")
    return await db.run_write(
        partial(credit, account_id=account_id, amount=amount, now=now, reason=reason)
    )


async def adjust(
    db: Database, account_id: int, amount: int, now: datetime, *, reason: str = ADJUST
) -> int:
    """An operator's correction of either sign; the balance never goes below zero."""
    if amount == 0:
        raise InvalidRequest("an adjustment of zero changes nothing")
    change = credit if amount > 0 else charge
    return await db.run_write(
        partial(change, account_id=account_id, amount=abs(amount), now=now, reason=reason)
    )


async def ledger_of(db: Database, account_id: int, *, limit: int = 100) -> list[LedgerRow]:
    """The account's latest ledger rows, newest first."""
    query = (
        select(
            LedgerEntry.id,
            LedgerEntry.rental_id,
            LedgerEntry.amount,
            LedgerEntry.reason,
            LedgerEntry.balance_after,
            LedgerEntry.created_at,
        )
        .where(LedgerEntry.account_id == account_id)
        .order_by(LedgerEntry.id.desc())
        .limit(limit)
    )
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [LedgerRow(*row) for row in rows]


# Built once, executed with parameters: the rent path runs these on every call.
_CREDIT = (
    update(Account)
    .where(Account.id == bindparam("account"))
    .values(balance=Account.balance + bindparam("amount"))
    .returning(Account.balance)
)
_CHARGE = (
    update(Account)
    .where(Account.id == bindparam("account"), Account.balance >= bindparam("amount"))
    .values(balance=Account.balance - bindparam("amount"))
    .returning(Account.balance)
)
_BALANCE = select(Account.balance).where(Account.id == bindparam("account"))
_LEDGER = insert(LedgerEntry)


def credit(
    connection: Connection,
    account_id: int,
    amount: int,
    now: datetime,
    reason: str,
    rental_id: str | None = None,
) -> int:
    """Add ``amount`` to the balance and write its ledger row; returns the new balance."""
    balance = connection.execute(
        _CREDIT, {"account": account_id, "amount": amount}
    ).scalar_one_or_none()
    if balance is None:
        raise AccountNotFound(f"no account {account_id}")
    _ledger(connection, account_id, amount, int(balance), now, reason, rental_id)
    return int(balance)


def charge(
    connection: Connection,
    account_id: int,
    amount: int,
    now: datetime,
    reason: str,
    rental_id: str | None = None,
) -> int:
    """Take ``amount`` if the balance covers it (else :class:`InsufficientCredit`)."""
    balance = connection.execute(
        _CHARGE, {"account": account_id, "amount": amount}
    ).scalar_one_or_none()
    if balance is None:
        current = connection.execute(_BALANCE, {"account": account_id}).scalar_one_or_none()
        if current is None:
            raise AccountNotFound(f"no account {account_id}")
        raise InsufficientCredit(int(current), amount)
    _ledger(connection, account_id, -amount, int(balance), now, reason, rental_id)
    return int(balance)


def _ledger(
    connection: Connection,
    account_id: int,
    amount: int,
    balance_after: int,
    now: datetime,
    reason: str,
    rental_id: str | None,
) -> None:
    connection.execute(
        _LEDGER,
        {
            "account_id": account_id,
            "rental_id": rental_id,
            "amount": amount,
            "reason": reason,
            "balance_after": balance_after,
            "created_at": now,
        },
    )


# --------------------------------------------------------------------------- prices


def _key(service: str | None, country: str | None) -> tuple[str | None, str | None]:
    return (service or None, country.upper() if country else None)


def _same_key(service: str | None, country: str | None) -> list[Any]:
    return [
        Price.service.is_(None) if service is None else Price.service == service,
        Price.country.is_(None) if country is None else Price.country == country,
    ]


async def set_price(
    db: Database, price: int, *, service: str | None = None, country: str | None = None
) -> None:
    """Set the price of (service, country); None in either means "any"."""
    if price < 0:
        raise InvalidRequest("a price cannot be negative")
    service, country = _key(service, country)

    def upsert_price(connection: Connection) -> None:
        result = connection.execute(
            update(Price).where(*_same_key(service, country)).values(price=price)
        )
        if not result.rowcount:
            connection.execute(insert(Price).values(service=service, country=country, price=price))

    await db.run_write(upsert_price)


async def delete_price(
    db: Database, *, service: str | None = None, country: str | None = None
) -> bool:
    """Remove the row of (service, country); False if there was none."""
    service, country = _key(service, country)

    def remove(connection: Connection) -> bool:
        return bool(connection.execute(delete(Price).where(*_same_key(service, country))).rowcount)

    return await db.run_write(remove)


async def list_prices(db: Database) -> list[PriceRow]:
    async with db.read() as connection:
        rows = (
            await connection.execute(
                select(Price.service, Price.country, Price.price).order_by(Price.id)
            )
        ).all()
    return [PriceRow(*row) for row in rows]


@cache
def _price_statement(has_service: bool, has_country: bool) -> Any:
    def covers(column: Any, name: str, given: bool) -> Any:
        """A price row applies: it names the value, or it says "any"."""
        if not given:
            return column.is_(None)
        return or_(column == bindparam(name), column.is_(None))

    return (
        select(Price.price)
        .where(
            covers(Price.service, "service", has_service),
            covers(Price.country, "country", has_country),
        )
        # False sorts before True: rows that name the service, then the country, first.
        .order_by(Price.service.is_(None), Price.country.is_(None))
        .limit(1)
    )


def price_for(
    connection: Connection, service: str | None, country: str | None, default: int
) -> int:
    """What a rental of ``service`` in ``country`` costs (see the module docstring)."""
    service, country = _key(service, country)
    statement = _price_statement(service is not None, country is not None)
    parameters = {"service": service, "country": country}
    price = connection.execute(statement, parameters).scalar_one_or_none()
    return default if price is None else int(price)


__all__ = [
    "ADJUST",
    "REFUND",
    "RENTAL",
    "TOP_UP",
    "LedgerRow",
    "PriceRow",
    "adjust",
    "balance_of",
    "charge",
    "create_account",
    "credit",
    "delete_price",
    "ledger_of",
    "list_prices",
    "price_for",
    "set_price",
    "top_up",
]
