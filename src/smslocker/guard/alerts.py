"""Alerts: what the abuse rules did, with the evidence, for the operator's alert list.

An alert is written in the transaction of the action it reports (:func:`raise_alert`),
with a ``alert.raised`` webhook outbox row for every enabled endpoint of an operator
(an account with a live admin key) subscribed to that event type.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from smslocker.delivery.events import ALERT_RAISED, webhook_body
from smslocker.store.db import Database
from smslocker.store.models import ApiKey, GuardAlert, WebhookDelivery, WebhookEndpoint
from smslocker.store.types import new_id


@dataclass(frozen=True, slots=True)
class AlertView:
    id: int
    raised_at: datetime
    rule: str
    action: str
    account_id: int | None
    ip: str | None
    evidence: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "raised_at": self.raised_at.isoformat(),
            "rule": self.rule,
            "action": self.action,
            "account_id": self.account_id,
            "ip": self.ip,
            "evidence": self.evidence,
        }


_COLUMNS = (
    GuardAlert.id,
    GuardAlert.raised_at,
    GuardAlert.rule,
    GuardAlert.action,
    GuardAlert.account_id,
    GuardAlert.ip,
    GuardAlert.evidence,
)


def raise_alert(
    connection: Connection,
    *,
    rule: str,
    action: str,
    account_id: int | None,
    ip: str | None,
    evidence: dict[str, Any],
    now: datetime,
) -> AlertView:
    """Store the alert and queue its webhooks, in the caller's transaction."""
    evidence = json.loads(json.dumps(evidence, default=str))
    row = connection.execute(
        insert(GuardAlert)
        .values(
            raised_at=now,
            rule=rule,
            action=action,
            account_id=account_id,
            ip=ip,
            evidence=evidence,
        )
        .returning(*_COLUMNS)
    ).one()
    alert = AlertView(*row)
    _enqueue_operator_webhooks(connection, alert, now)
    return alert


def _enqueue_operator_webhooks(connection: Connection, alert: AlertView, now: datetime) -> None:
    admins = (
        select(ApiKey.account_id)
        .where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))
        .scalar_subquery()
    )
    endpoints = connection.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.account_id, WebhookEndpoint.events).where(
            WebhookEndpoint.enabled.is_(True), WebhookEndpoint.account_id.in_(admins)
        )
    ).all()
    subscribed = [row for row in endpoints if ALERT_RAISED in (row.events or ())]
    if not subscribed:
        return
    body = webhook_body({"type": ALERT_RAISED, "alert": alert.as_json()}, now)
    connection.execute(
        insert(WebhookDelivery),
        [
            {
                "id": new_id("msg_"),
                "endpoint_id": row.id,
                "account_id": row.account_id,
                "event_type": ALERT_RAISED,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for row in subscribed
        ],
    )


async def list_alerts(
    db: Database,
    *,
    account_id: int | None = None,
    rule: str | None = None,
    before: int | None = None,
    limit: int = 100,
) -> list[AlertView]:
    """Alerts, newest first (page with ``before``: the last id seen)."""
    query = select(*_COLUMNS).order_by(GuardAlert.id.desc()).limit(limit)
    if account_id is not None:
        query = query.where(GuardAlert.account_id == account_id)
    if rule is not None:
        query = query.where(GuardAlert.rule == rule)
    if before is not None:
        query = query.where(GuardAlert.id < before)
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [AlertView(*row) for row in rows]


__all__ = ["ALERT_RAISED", "AlertView", "list_alerts", "raise_alert"]
