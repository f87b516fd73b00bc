"""The webhook outbox: deliveries (one per event and endpoint), their attempts, replay.

:func:`~.events.enqueue_webhooks` adds rows in the writer's transaction; the worker
(:mod:`.worker`) takes due ones with :func:`claim_due` and writes what each attempt did
with :func:`record_attempts`; accounts read the log (:func:`list_deliveries`) and
re-queue a delivery (:func:`replay_delivery`).

A claim moves the delivery's ``next_attempt_at`` a lease ahead instead of marking it
taken: a worker that dies mid-send leaves it due again once the lease runs out (the
receiver may then see it twice, which the ``webhook-id`` lets it tell), and nothing has
to clean up after it. On PostgreSQL claims take ``FOR UPDATE SKIP LOCKED`` so that
several workers share the due rows without waiting on each other; on SQLite the single
writer serialises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, select, update

from smslocker.store import Database
from smslocker.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

from .endpoints import (
    DeliveryNotFound,
    EndpointDisabled,
    EndpointNotFound,
    InvalidEndpoint,
    owned_endpoint,
    signing_secrets,
)

#: The most deliveries one page of the log returns.
MAX_PAGE = 200

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
DELIVERY_STATUSES = (PENDING, DELIVERED, FAILED)


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """One event for one endpoint, and every attempt to deliver it (oldest first)."""

    id: str
    endpoint_id: str
    event_type: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptView]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery a worker took, with what it needs to send it."""

    id: str
    endpoint_id: str
    url: str
    payload: str
    attempts: int
    """Attempts made before this one."""
    secrets: list[str]


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    """What one attempt did, and what becomes of its delivery."""

    delivery_id: str
    endpoint_id: str
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    status: str
    next_attempt_at: datetime
    disable_endpoint: str | None = None
    """Why to disable the endpoint (it answered 410 Gone), or None."""


def _due(now: datetime) -> Any:
    return (
        WebhookDelivery.status == PENDING,
        WebhookDelivery.next_attempt_at <= now,
        exists().where(
            WebhookEndpoint.id == WebhookDelivery.endpoint_id,
            WebhookEndpoint.enabled.is_(True),
        ),
    )


async def any_due(db: Database, now: datetime) -> bool:
    """Whether a delivery is due (a read: no write lock taken to find nothing)."""
    async with db.read() as connection:
        found = await connection.scalar(select(WebhookDelivery.id).where(*_due(now)).limit(1))
    return found is not None


def claim_due(connection: Connection, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    """Take up to ``limit`` due deliveries of enabled endpoints, oldest due first, and
    hold them for ``lease``. See the module docstring."""
    due = (
        select(WebhookDelivery.id)
        .where(*_due(now))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    if connection.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=WebhookDelivery)
    ids = list(connection.scalars(due))
    if not ids:
        return []
    connection.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(next_attempt_at=now + lease)
    )
    rows = connection.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.endpoint_id,
            WebhookDelivery.payload,
            WebhookDelivery.attempts,
            WebhookEndpoint.url,
            WebhookEndpoint.secret,
            WebhookEndpoint.previous_secret,
            WebhookEndpoint.previous_secret_until,
        )
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(ids))
    ).all()
    order = {delivery_id: index for index, delivery_id in enumerate(ids)}
    return sorted(
        (
            Claimed(
                id=row.id,
                endpoint_id=row.endpoint_id,
                url=row.url,
                payload=row.payload,
                attempts=row.attempts,
                secrets=signing_secrets(
                    row.secret, row.previous_secret, row.previous_secret_until, now
                ),
            )
            for row in rows
        ),
        key=lambda claimed: order[claimed.id],
    )


def record_attempts(connection: Connection, outcomes: Sequence[AttemptOutcome]) -> None:
    """Log each attempt and move its delivery on; disable the endpoints that said 410."""
    if not outcomes:
        return
    connection.execute(
        insert(WebhookAttempt),
        [
            {
                "delivery_id": outcome.delivery_id,
                "attempted_at": outcome.attempted_at,
                "status_code": outcome.status_code,
                "error": outcome.error,
                "duration_ms": outcome.duration_ms,
            }
            for outcome in outcomes
        ],
    )
    for outcome in outcomes:
        connection.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == outcome.delivery_id)
            .values(
                attempts=WebhookDelivery.attempts + 1,
                status=outcome.status,
                next_attempt_at=outcome.next_attempt_at,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
                delivered_at=outcome.attempted_at if outcome.status == DELIVERED else None,
            )
        )
        if outcome.disable_endpoint is not None:
            connection.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == outcome.endpoint_id)
                .values(
                    enabled=False,
                    disabled_reason=outcome.disable_endpoint,
                    updated_at=outcome.attempted_at,
                )
            )


async def list_deliveries(
    db: Database,
    account_id: int,
    endpoint_id: str,
    *,
    status: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> tuple[list[DeliveryView], str | None]:
    """The endpoint's deliveries, newest first, each with its attempts, and the
    ``before`` of the next (older) page, None on the last one."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidEndpoint(f"limit must be between 1 and {MAX_PAGE}")
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidEndpoint(f"status is one of {', '.join(DELIVERY_STATUSES)}")
    query = select(*_DELIVERY_COLUMNS).where(
        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.account_id == account_id
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    query = query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)
    async with db.read() as connection:
        owned = await connection.scalar(
            select(WebhookEndpoint.id).where(*owned_endpoint(account_id, endpoint_id))
        )
        if owned is None:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
        rows = (await connection.execute(query)).all()
        page = rows[:limit]
        attempts = await _attempts(connection, [row.id for row in page])
    next_before = page[-1].id if len(rows) > limit else None
    return [_delivery(row, attempts.get(row.id, [])) for row in page], next_before


async def get_delivery(db: Database, account_id: int, delivery_id: str) -> DeliveryView:
    async with db.read() as connection:
        row = (
            await connection.execute(
                select(*_DELIVERY_COLUMNS).where(*_owned_delivery(account_id, delivery_id))
            )
        ).first()
        if row is None:
            raise DeliveryNotFound(f"no webhook delivery {delivery_id}")
        attempts = await _attempts(connection, [row.id])
    return _delivery(row, attempts.get(row.id, []))


async def replay_delivery(
    db: Database, account_id: int, delivery_id: str, now: datetime
) -> DeliveryView:
    """Queue the delivery again, due now, with a fresh retry schedule; its id (the
    ``webhook-id``) stays, so a receiver that already processed it can tell. The attempt
    log keeps every earlier attempt."""

    def requeue(connection: Connection) -> None:
        row = connection.execute(
            select(WebhookDelivery.endpoint_id, WebhookEndpoint.enabled)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(*_owned_delivery(account_id, delivery_id))
        ).first()
        if row is None:
            raise DeliveryNotFound(f"no webhook delivery {delivery_id}")
        if not row.enabled:
            raise EndpointDisabled(
                f"webhook endpoint {row.endpoint_id} is disabled: enable it to replay"
            )
        connection.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id)
            .values(status=PENDING, attempts=0, next_attempt_at=now, delivered_at=None)
        )

    await db.run_write(requeue)
    return await get_delivery(db, account_id, delivery_id)


# --------------------------------------------------------------------------- helpers

_DELIVERY_COLUMNS = (
    WebhookDelivery.id,
    WebhookDelivery.endpoint_id,
    WebhookDelivery.event_type,
    WebhookDelivery.payload,
    WebhookDelivery.status,
    WebhookDelivery.attempts,
    WebhookDelivery.next_attempt_at,
    WebhookDelivery.last_status_code,
    WebhookDelivery.last_error,
    WebhookDelivery.created_at,
    WebhookDelivery.delivered_at,
)


async def purge_deliveries(db: Database, before: datetime) -> int:
    """Delete the settled deliveries (delivered or failed) created before ``before``, with
    their attempts; returns how many.

    A delivery's payload is the event, message text and codes included, so it must not
    outlive the message bodies (``retention.body_s``); pending ones are still being
    retried and stay until they settle.
    """

    def purge(connection: Connection) -> int:
        settled = select(WebhookDelivery.id).where(
            WebhookDelivery.status != PENDING, WebhookDelivery.created_at < before
        )
        connection.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(settled)))
        return connection.execute(
            delete(WebhookDelivery).where(WebhookDelivery.id.in_(settled))
        ).rowcount

    return await db.run_write(purge)


def _owned_delivery(account_id: int, delivery_id: str) -> tuple[Any, ...]:
    return (WebhookDelivery.id == delivery_id, WebhookDelivery.account_id == account_id)


async def _attempts(connection: Any, delivery_ids: list[str]) -> dict[str, list[AttemptView]]:
    found: dict[str, list[AttemptView]] = {}
    if not delivery_ids:
        return found
    rows = await connection.execute(
        select(
            WebhookAttempt.delivery_id,
            WebhookAttempt.attempted_at,
            WebhookAttempt.status_code,
            WebhookAttempt.error,
            WebhookAttempt.duration_ms,
        )
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id)
    )
    for row in rows:
        found.setdefault(row.delivery_id, []).append(
            AttemptView(row.attempted_at, row.status_code, row.error, row.duration_ms)
        )
    return found


def _delivery(row: Any, attempts: list[AttemptView]) -> DeliveryView:
    values = dict(row._mapping)
    if values["status"] != PENDING:
        values["next_attempt_at"] = None
    return DeliveryView(**values, attempt_log=attempts)


__all__ = [
    "DELIVERED",
    "DELIVERY_STATUSES",
    "FAILED",
    "MAX_PAGE",
    "PENDING",
    "AttemptOutcome",
    "AttemptView",
    "Claimed",
    "DeliveryView",
    "any_due",
    "claim_due",
    "get_delivery",
    "list_deliveries",
    "purge_deliveries",
    "record_attempts",
    "replay_delivery",
]
