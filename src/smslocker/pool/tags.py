"""Service tags: what the pool knows of a number for one service.

"Used for google at T" keeps the number away from google renters for the rotation
period (:mod:`.selection` reads it); "fails for whatsapp" keeps it away from whatsapp
renters for good, until an operator clears it.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import Connection, update
from sqlalchemy.dialects import postgresql, sqlite

from smslocker.store.db import Database
from smslocker.store.models import ServiceTag
from smslocker.store.sql import upsert


@cache
def _record_use_statement(dialect: str) -> Any:
    """The upsert of a use, built once per database kind (the rent path runs it each time)."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(ServiceTag)
    return statement.on_conflict_do_update(
        index_elements=[ServiceTag.number_id, ServiceTag.service],
        set_={"last_used_at": statement.excluded.last_used_at, "uses": ServiceTag.uses + 1},
    )


def record_use(connection: Connection, number_id: int, service: str, now: datetime) -> None:
    """Note that the number was rented for ``service`` at ``now`` (in the rent's transaction)."""
    connection.execute(
        _record_use_statement(connection.dialect.name),
        {
            "number_id": number_id,
            "service": service,
            "last_used_at": now,
            "uses": 1,
            "failures": 0,
            "failing": False,
        },
    )


async def mark_failing(db: Database, number_id: int, service: str, now: datetime) -> None:
    """Report that the number fails for ``service``: it is never offered for it again."""
    await db.run_write(partial(mark_failing_in, number_id=number_id, service=service, now=now))


def mark_failing_in(connection: Connection, number_id: int, service: str, now: datetime) -> None:
    """:func:`mark_failing` inside a transaction the caller already holds."""
    statement = upsert(connection, ServiceTag).values(
        number_id=number_id, service=service, uses=0, failures=1, failing=True, failed_at=now
    )
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[ServiceTag.number_id, ServiceTag.service],
            set_={"failing": True, "failed_at": now, "failures": ServiceTag.failures + 1},
        )
    )


async def clear_failing(db: Database, number_id: int, service: str) -> bool:
    """An operator's "it works again": the number may be offered for ``service`` again."""

    def clear(connection: Connection) -> bool:
        result = connection.execute(
            update(ServiceTag)
            .where(ServiceTag.number_id == number_id, ServiceTag.service == service)
            .values(failing=False)
        )
        return bool(result.rowcount)

    return await db.run_write(clear)


__all__ = ["clear_failing", "mark_failing", "mark_failing_in", "record_use"]
