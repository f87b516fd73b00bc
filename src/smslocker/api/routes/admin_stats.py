"""Admin: figures for the operator's console — the pool by state, country, carrier and
service, and traffic per minute (messages received, routed, unmatched; webhook attempts;
ack latency).

The console (:mod:`smslocker.web`) draws its charts from these answers, like any other
client could: they are admin API routes, not a private back door of the pages. Counts
come from the database (the same in every process of a deployment, and they survive
restarts); grouping happens in SQL, so a pool of millions costs a few index scans, not
millions of rows in Python. The ack latency is the one exception: it is this process's
Prometheus histogram of ingest commits (the SMPP ack waits for the commit), so it is
empty in an API-only process.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import ColumnElement, and_, case, func, literal, select

from smslocker.metrics import INGEST_COMMIT_SECONDS
from smslocker.store.models import Message, Number, ServiceTag, WebhookAttempt

from ..auth import admin_principal
from ..deps import PlatformDep
from ..views import iso, problems

router = APIRouter(
    prefix="/api/v1/admin/stats",
    tags=["admin"],
    dependencies=[Depends(admin_principal)],
    responses=problems(401, 403),
)

#: The width of one traffic bucket, in seconds.
BUCKET_S = 60
#: The most buckets one answer has (a day of minutes).
MAX_BUCKETS = 1440


def _counts(rows: Any, key: str) -> list[dict[str, Any]]:
    return [{key: row[0], "count": int(row[1])} for row in rows]


@router.get("/pool", summary="The pool's numbers counted by state, country, carrier, service")
async def get_pool_stats(platform: PlatformDep) -> dict[str, Any]:
    """Counts per state, per country, per carrier and per connector (a number with no
    country or carrier counts under null), and per service the numbers that have been
    used for it and those that fail for it (``service_tags``)."""
    grouped: dict[str, Any] = {}
    async with platform.db.read() as connection:
        for name, column in (
            ("by_state", Number.state),
            ("by_country", Number.country),
            ("by_carrier", Number.carrier),
            ("by_connector", Number.connector),
        ):
            query = (
                select(column, func.count()).group_by(column).order_by(func.count().desc(), column)
            )
            grouped[name] = (await connection.execute(query)).all()
        failing = func.sum(case((ServiceTag.failing, 1), else_=0))
        services = (
            await connection.execute(
                select(ServiceTag.service, func.count(), failing)
                .group_by(ServiceTag.service)
                .order_by(func.count().desc(), ServiceTag.service)
            )
        ).all()
    return {
        "total": sum(int(row[1]) for row in grouped["by_state"]),
        "by_state": _counts(grouped["by_state"], "state"),
        "by_country": _counts(grouped["by_country"], "country"),
        "by_carrier": _counts(grouped["by_carrier"], "carrier"),
        "by_connector": _counts(grouped["by_connector"], "connector"),
        "by_service": [
            {"service": row[0], "numbers": int(row[1]), "failing": int(row[2] or 0)}
            for row in services
        ],
    }


def _bucket_of(column: Any, edges: list[datetime]) -> ColumnElement[Any]:
    """The index of the bucket ``column`` falls in (``edges`` are the bucket starts).

    A CASE over the edges, not date arithmetic: SQLite and PostgreSQL spell the latter
    differently, and the comparison is what the indexes on the time columns serve.
    """
    if len(edges) == 1:
        return literal(0)
    whens: list[tuple[ColumnElement[bool], int]] = [
        (column < edge, index) for index, edge in enumerate(edges[1:])
    ]
    return case(*whens, else_=len(edges) - 1)


async def _per_bucket(
    connection: Any, column: Any, edges: list[datetime], end: datetime, *counts: Any
) -> list[Any]:
    """``(bucket, *counts)`` rows of the rows with ``column`` in ``[edges[0], end)``.

    The bucket is computed in a subquery and grouped outside it: grouping by the CASE
    itself would repeat its bound parameters, and PostgreSQL does not see two
    expressions with different parameter numbers as the same one.
    """
    inner = (
        select(_bucket_of(column, edges).label("bucket"), *counts)
        .where(and_(column >= edges[0], column < end))
        .subquery()
    )
    aggregates = [func.count()] + [func.sum(c) for c in list(inner.c)[1:]]
    query = select(inner.c.bucket, *aggregates).group_by(inner.c.bucket)
    return list((await connection.execute(query)).all())


@router.get(
    "/traffic",
    summary="Messages and webhook attempts per minute, and the ack latency",
    responses=problems(422),
)
async def get_traffic(
    platform: PlatformDep,
    minutes: Annotated[int, Query(ge=1, le=MAX_BUCKETS, description="how far back")] = 60,
) -> dict[str, Any]:
    """One bucket per minute up to now (the last one is the minute in progress): messages
    received, routed to a rental and unmatched, webhook attempts that succeeded (2xx)
    and failed; the messages of the last minute per connector; the ack latency."""
    now = platform.now()
    end = now.replace(second=0, microsecond=0) + timedelta(seconds=BUCKET_S)
    edges = [end - timedelta(seconds=BUCKET_S * (minutes - i)) for i in range(minutes)]
    received = [0] * minutes
    routed = [0] * minutes
    hooks_ok = [0] * minutes
    hooks_failed = [0] * minutes
    ok = and_(WebhookAttempt.status_code >= 200, WebhookAttempt.status_code < 300)
    async with platform.db.read() as connection:
        matched = case((Message.rental_id.is_not(None), 1), else_=0).label("matched")
        for index, count, routed_count in await _per_bucket(
            connection, Message.received_at, edges, end, matched
        ):
            received[index], routed[index] = int(count), int(routed_count or 0)
        succeeded = case((ok, 1), else_=0).label("succeeded")
        for index, count, ok_count in await _per_bucket(
            connection, WebhookAttempt.attempted_at, edges, end, succeeded
        ):
            hooks_ok[index] = int(ok_count or 0)
            hooks_failed[index] = int(count) - hooks_ok[index]
        minute_ago = now - timedelta(seconds=BUCKET_S)
        per_connector = (
            await connection.execute(
                select(Message.connector, func.count())
                .where(Message.received_at >= minute_ago)
                .group_by(Message.connector)
            )
        ).all()
    attempts = sum(hooks_ok) + sum(hooks_failed)
    return {
        "bucket_s": BUCKET_S,
        "since": iso(edges[0]),
        "until": iso(end),
        "buckets": [
            {
                "at": iso(edges[i]),
                "received": received[i],
                "routed": routed[i],
                "unmatched": received[i] - routed[i],
                "webhook_ok": hooks_ok[i],
                "webhook_failed": hooks_failed[i],
            }
            for i in range(minutes)
        ],
        "totals": {
            "received": sum(received),
            "routed": sum(routed),
            "unmatched": sum(received) - sum(routed),
            "webhook_attempts": attempts,
            "webhook_success": (sum(hooks_ok) / attempts) if attempts else None,
        },
        "connectors_last_minute": {str(name): int(count) for name, count in per_connector},
        "ack_latency": ack_latency(),
    }


def ack_latency() -> dict[str, Any]:
    """This process's ingest commit times (the SMPP ack waits for them), since start.

    Quantiles are the upper bound of the histogram bucket they fall in (Prometheus'
    buckets, not exact figures); None while nothing was committed.
    """
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for metric in INGEST_COMMIT_SECONDS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    buckets.sort()

    def quantile(q: float) -> float | None:
        if not count:
            return None
        for bound, cumulative in buckets:
            if cumulative >= q * count:
                return None if bound == float("inf") else bound * 1000
        return None

    return {
        "commits": int(count),
        "mean_ms": (total / count * 1000) if count else None,
        "p50_ms": quantile(0.5),
        "p95_ms": quantile(0.95),
        "p99_ms": quantile(0.99),
    }
