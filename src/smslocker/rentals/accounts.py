"""Accounts as an operator sees them: list, show, change tier or status; a number's rentals.

Balances move only through :mod:`.credits` (every change with its ledger row); here are
the reads and the two plain attributes an operator sets. A suspended account's keys
stop working at once (the API answers 403), its rentals run to their end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import Connection, select, update

from smslocker.store.db import Database
from smslocker.store.models import Account, Rental

from .errors import AccountNotFound, InvalidRequest
from .views import RENTAL_COLUMNS, RentalView

ACCOUNT_STATUSES = ("active", "suspended")
_MAX_TIER = 20


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    name: str
    balance: int
    tier: str
    status: str
    created_at: datetime


_COLUMNS = (
    Account.id,
    Account.name,
    Account.balance,
    Account.tier,
    Account.status,
    Account.created_at,
)


async def list_accounts(
    db: Database, *, status: str | None = None, after_id: int = 0, limit: int = 50
) -> list[AccountView]:
    """Accounts by id, from ``after_id`` on (keyset pagination)."""
    query = select(*_COLUMNS).where(Account.id > after_id).order_by(Account.id).limit(limit)
    if status is not None:
        query = query.where(Account.status == status)
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [AccountView(*row) for row in rows]


async def get_account(db: Database, account_id: int) -> AccountView:
    """The account ``account_id``; raises :class:`~.errors.AccountNotFound`."""
    async with db.read() as connection:
        row = (await connection.execute(select(*_COLUMNS).where(Account.id == account_id))).first()
    if row is None:
        raise AccountNotFound(f"no account {account_id}")
    return AccountView(*row)


async def update_account(
    db: Database, account_id: int, *, tier: str | None = None, status: str | None = None
) -> AccountView:
    """Set the tier and/or the status (active or suspended) of an account."""
    values: dict[str, str] = {}
    if tier is not None:
        if not 1 <= len(tier.strip()) <= _MAX_TIER:
            raise InvalidRequest(f"a tier is 1 to {_MAX_TIER} characters")
        values["tier"] = tier.strip()
    if status is not None:
        if status not in ACCOUNT_STATUSES:
            raise InvalidRequest(f"status: one of {', '.join(ACCOUNT_STATUSES)}")
        values["status"] = status
    if not values:
        return await get_account(db, account_id)
    return await db.run_write(partial(_update, account_id=account_id, values=values))


def _update(connection: Connection, account_id: int, values: dict[str, str]) -> AccountView:
    row = connection.execute(
        update(Account).where(Account.id == account_id).values(**values).returning(*_COLUMNS)
    ).first()
    if row is None:
        raise AccountNotFound(f"no account {account_id}")
    return AccountView(*row)


async def rentals_of_number(db: Database, number_id: int, *, limit: int = 50) -> list[RentalView]:
    """The number's rentals, newest first: its history, for the operator."""
    query = (
        select(*RENTAL_COLUMNS)
        .where(Rental.number_id == number_id)
        .order_by(Rental.started_at.desc())
        .limit(limit)
    )
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [RentalView.from_row(row) for row in rows]


__all__ = [
    "ACCOUNT_STATUSES",
    "AccountView",
    "get_account",
    "list_accounts",
    "rentals_of_number",
    "update_account",
]
