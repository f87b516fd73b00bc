"""Events: what happened to a renter, told to their push streams and their webhooks.

Theory of operation: whoever changes state builds events with :func:`message_event` or
:func:`rental_event` and hands the same list to two calls:

- :func:`enqueue_webhooks`, *inside* its write transaction: one row of the webhook
  outbox (``webhook_deliveries``) per event and per enabled endpoint of that account
  subscribed to the event's type. The rows commit or roll back with the change they
  describe (a transactional outbox), so no webhook is lost to a crash between the
  commit and the send, nor sent for a change that did not commit. The webhook worker
  (:mod:`.worker`) delivers them.
- :func:`publish`, *after* the commit: the event on the bus, channels
  ``rental:<rental_id>`` and ``account:<account_id>``, for WebSocket and SSE
  subscribers. The bus is the fast path, not the record: a subscriber that missed
  events re-reads the inbox.

An event is a JSON object: ``{"type", "account_id", "rental_id", ...payload}``, with
``"message": <Message JSON>`` for ``message.received`` and ``"rental": <Rental JSON>``
for the ``rental.*`` types. Push streams carry it as it is; a webhook's body is the
Standard Webhooks envelope ``{"type", "timestamp", "data"}`` whose ``data`` is the event
without ``type`` and ``account_id``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from smslocker.log import get_logger
from smslocker.store.models import WebhookDelivery, WebhookEndpoint
from smslocker.store.types import new_id

from .bus import Bus, BusError, Event

log = get_logger(__name__)

MESSAGE_RECEIVED = "message.received"
RENTAL_CREATED = "rental.created"
RENTAL_EXTENDED = "rental.extended"
RENTAL_RELEASED = "rental.released"
RENTAL_CANCELLED = "rental.cancelled"
RENTAL_EXPIRED = "rental.expired"

#: The rental lifecycle events, in the order a rental can meet them.
RENTAL_EVENTS = (
    RENTAL_CREATED,
    RENTAL_EXTENDED,
    RENTAL_RELEASED,
    RENTAL_CANCELLED,
    RENTAL_EXPIRED,
)
#: An abuse rule acted (smslocker.guard.alerts): sent to admin accounts' endpoints only.
ALERT_RAISED = "alert.raised"
#: Every event type; webhook endpoints subscribe to these names.
EVENT_TYPES = (MESSAGE_RECEIVED, *RENTAL_EVENTS, ALERT_RAISED)

#: The prefix of a webhook delivery's id (the ``webhook-id`` header): ``msg_`` + 26 chars.
DELIVERY_ID_PREFIX = "msg_"

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def rental_channel(rental_id: str) -> str:
    return f"rental:{rental_id}"


def account_channel(account_id: int) -> str:
    return f"account:{account_id}"


def message_event(account_id: int, rental_id: str, message: Mapping[str, Any]) -> Event:
    """A ``message.received`` event; ``message`` is the Message JSON (``api.views``)."""
    return {
        "type": MESSAGE_RECEIVED,
        "account_id": account_id,
        "rental_id": rental_id,
        "message": dict(message),
    }


def rental_event(event_type: str, account_id: int, rental: Mapping[str, Any]) -> Event:
    """A ``rental.*`` event; ``rental`` is the Rental JSON (with its ``id``)."""
    if event_type not in RENTAL_EVENTS:
        raise ValueError(f"not a rental event: {event_type!r}")
    return {
        "type": event_type,
        "account_id": account_id,
        "rental_id": str(rental["id"]),
        "rental": dict(rental),
    }


def webhook_body(event: Mapping[str, Any], now: datetime) -> str:
    """The body POSTed for ``event``: ``{"type", "timestamp", "data"}`` as compact JSON."""
    data = {key: value for key, value in event.items() if key not in ("type", "account_id")}
    envelope = {"type": event["type"], "timestamp": _iso(now), "data": data}
    return _JSON.encode(_jsonable(envelope))


def enqueue_webhooks(connection: Connection, events: list[Event], now: datetime) -> int:
    """Add outbox rows for ``events`` in the caller's transaction; return how many.

    One row per (event, enabled endpoint of the event's account subscribed to its type),
    due at once. One query finds the endpoints of every account in ``events``; events
    without an ``account_id`` (an unmatched message has no renter) are skipped.
    """
    accounts = {event["account_id"] for event in events if event.get("account_id") is not None}
    if not accounts:
        return 0
    endpoints = connection.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.account_id, WebhookEndpoint.events).where(
            WebhookEndpoint.account_id.in_(sorted(accounts)),
            WebhookEndpoint.enabled.is_(True),
        )
    ).all()
    rows = webhook_deliveries(events, endpoints, now)
    if rows:
        connection.execute(insert(WebhookDelivery), rows)
    return len(rows)


#: An enabled endpoint as the outbox needs it: (id, account_id, subscribed event types).
EndpointSubscription = tuple[str, int, Iterable[str] | None]


def webhook_deliveries(
    events: list[Event], endpoints: Iterable[EndpointSubscription], now: datetime
) -> list[dict[str, Any]]:
    """The outbox rows (column -> value) for ``events`` and the *enabled* ``endpoints``:
    one per event and endpoint of the event's account subscribed to its type, due at once.

    For callers that write the rows their own way (ingest's one-statement batch); the
    bodies are built only for the events some endpoint wants.
    """
    by_account: dict[int, list[tuple[str, frozenset[str]]]] = {}
    for endpoint_id, endpoint_account, subscribed in endpoints:
        by_account.setdefault(endpoint_account, []).append(
            (endpoint_id, frozenset(subscribed or ()))
        )
    if not by_account:
        return []
    rows: list[dict[str, Any]] = []
    for event in events:
        account_id = event.get("account_id")
        if account_id is None:  # an unmatched message has no renter
            continue
        wanted = [
            endpoint_id
            for endpoint_id, subscribed in by_account.get(account_id, ())
            if event["type"] in subscribed
        ]
        if not wanted:
            continue
        body = webhook_body(event, now)
        rows.extend(
            {
                "id": new_id(DELIVERY_ID_PREFIX),
                "endpoint_id": endpoint_id,
                "account_id": account_id,
                "event_type": event["type"],
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for endpoint_id in wanted
        )
    return rows


async def publish(bus: Bus, events: Iterable[Event]) -> None:
    """Put each event on ``rental:<id>`` and ``account:<id>`` (after the commit).

    Each channel gets its events in the order given, all in one
    :meth:`~.bus.Bus.publish_many` (on Redis one round trip, whatever the batch holds).

    A bus failure is logged, not raised: the change is committed and its webhooks are
    in the outbox; push subscribers catch up from the inbox when the bus tells them
    they missed something (or on their next read).
    """
    items: list[tuple[str, Event]] = []
    for event in events:
        if event.get("rental_id"):
            items.append((rental_channel(str(event["rental_id"])), event))
        if event.get("account_id") is not None:
            items.append((account_channel(int(event["account_id"])), event))
    if not items:
        return
    try:
        await bus.publish_many(items)
    except BusError as error:
        log.warning("events.publish_failed", events=len(items), error=repr(error))


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _jsonable(value: Any) -> Any:
    """``value`` with datetimes as ISO-8601 text (views give text already; this is a net)."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


__all__ = [
    "DELIVERY_ID_PREFIX",
    "EVENT_TYPES",
    "MESSAGE_RECEIVED",
    "RENTAL_CANCELLED",
    "RENTAL_CREATED",
    "RENTAL_EVENTS",
    "RENTAL_EXPIRED",
    "RENTAL_EXTENDED",
    "RENTAL_RELEASED",
    "account_channel",
    "enqueue_webhooks",
    "message_event",
    "publish",
    "rental_channel",
    "rental_event",
    "webhook_body",
    "webhook_deliveries",
]
