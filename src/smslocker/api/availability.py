"""What can be rented now: counts per country and carrier, with the price.

"Rentable" and "barred for a service" are the pool's own conditions
(:mod:`smslocker.pool.selection`), so a count here is exactly what a rent with the
same filters could pick from; the price is the rentals' price table
(:func:`smslocker.rentals.credits.price_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.pool.phone import MOBILE_LINE_TYPES
from smslocker.pool.selection import _barred_for_service, rentable
from smslocker.rentals.credits import price_for
from smslocker.settings import PolicySettings
from smslocker.store.db import Database
from smslocker.store.models import Number


@dataclass(frozen=True, slots=True)
class Filters:
    country: str | None = None
    service: str | None = None
    carrier: str | None = None
    mobile_only: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    country: str | None
    carrier: str | None
    service: str | None
    count: int
    price: int


@dataclass(frozen=True, slots=True)
class Free:
    number: str
    country: str | None
    carrier: str | None
    line_type: str
    connector: str | None


def _where(query: Any, filters: Filters) -> Any:
    query = query.where(rentable())
    if filters.country:
        query = query.where(Number.country == filters.country.upper())
    if filters.carrier:
        query = query.where(Number.carrier == filters.carrier)
    if filters.mobile_only:
        query = query.where(Number.line_type.in_(sorted(MOBILE_LINE_TYPES)))
    if filters.service:
        query = query.where(~_barred_for_service())
    return query


def _parameters(filters: Filters, now: datetime, policy: PolicySettings) -> dict[str, Any]:
    parameters: dict[str, Any] = {"now": now}
    if filters.service:
        parameters["service"] = filters.service
        parameters["cutoff"] = now - timedelta(seconds=policy.service_rotation_s)
    return parameters


async def available(
    db: Database, filters: Filters, now: datetime, policy: PolicySettings
) -> list[Group]:
    """Rentable numbers per (country, carrier) matching ``filters``, with their price."""
    query = _where(
        select(Number.country, Number.carrier, func.count()).group_by(
            Number.country, Number.carrier
        ),
        filters,
    ).order_by(Number.country, Number.carrier)
    async with db.read() as connection:
        rows = (await connection.execute(query, _parameters(filters, now, policy))).all()
        prices = await _prices(connection, {row.country for row in rows}, filters, policy)
    return [
        Group(country, carrier, filters.service, int(count), prices[country])
        for country, carrier, count in rows
    ]


async def _prices(
    connection: AsyncConnection,
    countries: set[str | None],
    filters: Filters,
    policy: PolicySettings,
) -> dict[str | None, int]:
    prices = {}
    for country in countries:
        prices[country] = await connection.run_sync(
            price_for, filters.service, country, policy.default_price
        )
    return prices


async def free_numbers(
    db: Database, filters: Filters, now: datetime, policy: PolicySettings, *, limit: int
) -> list[Free]:
    """The rentable numbers themselves (for operators), least recently used first."""
    query = _where(
        select(Number.e164, Number.country, Number.carrier, Number.line_type, Number.connector),
        filters,
    ).order_by(Number.last_used_at, Number.id)
    async with db.read() as connection:
        rows = (
            await connection.execute(query.limit(limit), _parameters(filters, now, policy))
        ).all()
    return [Free(*row) for row in rows]


__all__ = ["Filters", "Free", "Group", "available", "free_numbers"]
