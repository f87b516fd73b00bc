"""Shared pieces of the routing tests: inbound messages, seeded rows, a fake clock.

Rows are seeded with plain Core inserts that obey the contract (E.164 numbers with
``+``, ``window_end`` = end + grace), so that ingest is tested on its own; the
no-leak state machine drives the real rentals API instead.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from smslocker.gateway.messages import InboundMessage
from smslocker.store import Database
from smslocker.store.models import Account, Message, Number, Rental
from smslocker.store.types import new_id

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
CONNECTOR = "carrier-a"
SENDER = "447700900001"


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def inbound(
    destination: str,
    text: str,
    *,
    received_at: datetime = T0,
    smsc_timestamp: datetime | None = None,
    source: str = SENDER,
    connector: str = CONNECTOR,
    parts: int = 1,
    binary: bytes | None = None,
    data_coding: int = 0,
) -> InboundMessage:
    """A message as the connector hands it over (SMPP destinations have no ``+``)."""
    return InboundMessage(
        connector=connector,
        source=source,
        destination=destination,
        text=text,
        data_coding=data_coding,
        encoding="binary" if binary is not None else "gsm7",
        received_at=received_at,
        smsc_timestamp=smsc_timestamp,
        parts=parts,
        binary=binary,
    )


async def add_account(db: Database, name: str) -> int:
    async with db.write() as connection:
        result = await connection.execute(
            insert(Account).values(name=name, created_at=T0).returning(Account.id)
        )
        return int(result.scalar_one())


async def add_number(db: Database, e164: str, state: str = "FREE") -> int:
    async with db.write() as connection:
        result = await connection.execute(
            insert(Number)
            .values(e164=e164, state=state, state_since=T0, created_at=T0)
            .returning(Number.id)
        )
        return int(result.scalar_one())


async def add_rental(
    db: Database,
    account_id: int,
    number_id: int,
    number: str,
    started_at: datetime,
    window_end: datetime,
    *,
    status: str = "active",
) -> str:
    rental_id = new_id("rnt_")
    async with db.write() as connection:
        await connection.execute(
            insert(Rental).values(
                id=rental_id,
                account_id=account_id,
                number_id=number_id,
                number=number,
                status=status,
                started_at=started_at,
                expires_at=window_end,
                window_end=window_end,
            )
        )
    return rental_id


async def stored(db: Database) -> list[Any]:
    """Every message row, in id order."""
    async with db.read() as connection:
        return list((await connection.execute(select(Message).order_by(Message.id))).all())


async def number_row(db: Database, number_id: int) -> Any:
    async with db.read() as connection:
        return (await connection.execute(select(Number).where(Number.id == number_id))).one()


async def rental_row(db: Database, rental_id: str) -> Any:
    async with db.read() as connection:
        return (await connection.execute(select(Rental).where(Rental.id == rental_id))).one()


async def wait_until(
    predicate: Callable[[], object | Awaitable[object]], timeout: float = 10.0
) -> None:
    """Poll ``predicate`` (plain or async) until it is true; fail after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                outcome = predicate()
                if inspect.isawaitable(outcome):
                    outcome = await outcome
                if outcome:
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"condition not met within {timeout}s") from None
