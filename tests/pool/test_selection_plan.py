"""The selection queries walk the pick indexes: O(log n), no scan, no sort, on both databases.

The plans are read with EXPLAIN on a pool big enough (and ANALYZEd) for PostgreSQL's
planner to choose as it would in production.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pool_support import T0, add_numbers, number_row
from sqlalchemy import event, insert, text

from smslocker.pool.selection import Criteria, pick_query
from smslocker.store.models import ServiceTag

POOL = 10_000
COUNTRIES = ("US", "DE", "FR", "GB")
CARRIERS = ("Vodafone", "Orange", "T-Mobile", None)


async def explain(db: Any, query: Any) -> str:
    """The plan of ``query`` as the database would run it, one line per step."""
    captured: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        captured.append((args[2], args[3]))  # statement, parameters as the driver gets them

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with db.write() as connection:
            await connection.execute(query)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
    async with db.write() as connection:
        rows = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
    return "\n".join(str(row[-1] if db.is_sqlite else row[0]) for row in rows)


@pytest.fixture
async def big_pool(database: Any) -> Any:
    rows = [
        number_row(
            f"+1{i:010d}",
            country=COUNTRIES[i % 4],
            carrier=CARRIERS[i % 7 % 4],
            last_used_at=T0 - timedelta(seconds=i),
        )
        for i in range(POOL)
    ]
    for start in range(0, POOL, 5000):
        await add_numbers(database, rows[start : start + 5000])
    tags = [
        {
            "number_id": number_id,
            "service": service,
            "last_used_at": T0 - timedelta(days=number_id % 60),
            "uses": 1,
            "failures": 0,
            "failing": number_id % 97 == 0,
            "failed_at": None,
        }
        for number_id in range(1, POOL, 3)
        for service in ("google", "telegram")
    ]
    async with database.write() as connection:
        await connection.execute(insert(ServiceTag), tags)
        await connection.execute(text("ANALYZE"))
    return database


PICKS = [
    (Criteria(), "ix_numbers_pick"),
    (Criteria(country="DE"), "ix_numbers_pick_country"),
    (Criteria(country="DE", service="google", mobile_only=True), "ix_numbers_pick_country"),
    (Criteria(service="google"), "ix_numbers_pick"),
    (Criteria(carrier="Orange", service="google"), "ix_numbers_pick_carrier"),
    (Criteria(carrier="no such carrier"), "ix_numbers_pick_carrier"),
]


async def test_every_pick_walks_its_index_in_order(big_pool: Any) -> None:
    # One test for all of them: building the pool is the slow part.
    for criteria, index in PICKS:
        plan = await explain(big_pool, pick_query(criteria, T0, 3600))
        assert index in plan, (criteria, plan)
        if big_pool.is_sqlite:
            assert "TEMP B-TREE" not in plan, (criteria, plan)  # no sort
            assert "SCAN numbers" not in plan, (criteria, plan)
            if criteria.service:
                assert "sqlite_autoindex_service_tags_1" in plan, (criteria, plan)
        else:
            assert "Sort" not in plan, (criteria, plan)
            assert "Seq Scan on numbers" not in plan, (criteria, plan)
            # service_tags: probed by primary key per number, or, when the planner expects
            # few numbers barred for the service, those few read once into a hash.
    plan = await explain(big_pool, pick_query(Criteria(number="+10000000005"), T0, 3600))
    assert "e164" in plan, plan
    assert ("SCAN numbers" if big_pool.is_sqlite else "Seq Scan on numbers") not in plan, plan
