"""Reading the pool: one number, a page of numbers, a number's service tags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from smslocker.store.db import Database
from smslocker.store.models import Number, ServiceTag


@dataclass(frozen=True, slots=True)
class NumberView:
    """A number as the operator sees it (a plain copy of its row)."""

    id: int
    e164: str
    country: str | None
    carrier: str | None
    line_type: str
    source: str | None
    connector: str | None
    tags: tuple[str, ...]
    state: str
    state_since: datetime
    state_until: datetime | None
    last_used_at: datetime
    busy_until: datetime | None
    rentals_count: int
    messages_count: int
    probes_ok: int
    probes_failed: int
    probe_failure_streak: int
    last_probe_at: datetime | None
    last_probe_ms: int | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> NumberView:
        values = dict(row._mapping)
        values["tags"] = tuple(values["tags"] or ())
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ServiceTagView:
    """What the pool knows of one number for one service."""

    service: str
    last_used_at: datetime | None
    uses: int
    failures: int
    failing: bool
    failed_at: datetime | None


_NUMBER_COLUMNS = [column for column in Number.__table__.columns]


def _numbers() -> Select[Any]:
    return select(*_NUMBER_COLUMNS)


async def get_number(db: Database, e164: str) -> NumberView | None:
    """The number ``e164`` (with '+'), or None if the pool does not have it."""
    async with db.read() as connection:
        row = (await connection.execute(_numbers().where(Number.e164 == e164))).first()
    return None if row is None else NumberView.from_row(row)


async def list_numbers(
    db: Database,
    *,
    state: str | None = None,
    country: str | None = None,
    connector: str | None = None,
    after_id: int = 0,
    limit: int = 50,
) -> list[NumberView]:
    """Numbers matching the filters, by id, from ``after_id`` on (keyset pagination)."""
    query = _numbers().where(Number.id > after_id).order_by(Number.id).limit(limit)
    if state is not None:
        query = query.where(Number.state == state)
    if country is not None:
        query = query.where(Number.country == country.upper())
    if connector is not None:
        query = query.where(Number.connector == connector)
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [NumberView.from_row(row) for row in rows]


async def service_tags_of(db: Database, number_id: int) -> list[ServiceTagView]:
    """The number's (number, service) facts, by service."""
    query = (
        select(
            ServiceTag.service,
            ServiceTag.last_used_at,
            ServiceTag.uses,
            ServiceTag.failures,
            ServiceTag.failing,
            ServiceTag.failed_at,
        )
        .where(ServiceTag.number_id == number_id)
        .order_by(ServiceTag.service)
    )
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [ServiceTagView(**row._mapping) for row in rows]


__all__ = ["NumberView", "ServiceTagView", "get_number", "list_numbers", "service_tags_of"]
