"""Webhook endpoints: the URLs an account subscribes to events, and their secrets.

An account subscribes URLs to event types (:data:`~.events.EVENT_TYPES`). Each endpoint
has a secret (``whsec_...``, :mod:`.signing`) that is shown once, when the endpoint is
created or its secret rotated, and signs every delivery. Rotating keeps the previous
secret signing too (a second signature) for :data:`ROTATION_OVERLAP`, so receivers can
switch secrets without dropping a delivery.

Every function takes the caller's ``account_id`` and answers :class:`EndpointNotFound`
(or :class:`DeliveryNotFound`, :mod:`.outbox`) for another account's ids, the same as
for ids that do not exist, so ids cannot be probed.

Errors::

    WebhookError
    ├── InvalidEndpoint     a URL, event list or query that cannot be used
    ├── EndpointNotFound    no such endpoint in this account
    ├── DeliveryNotFound    no such delivery in this account
    └── EndpointDisabled    replay asked on a disabled endpoint
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, func, insert, select, update

from smslocker.store import Database
from smslocker.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from smslocker.store.types import new_id

from .events import EVENT_TYPES
from .signing import generate_secret

#: How long a rotated-out secret keeps signing deliveries.
ROTATION_OVERLAP = timedelta(hours=24)
#: The most endpoints one account may have.
MAX_ENDPOINTS = 20
#: The longest URL accepted.
MAX_URL_LENGTH = 2000

ENDPOINT_ID_PREFIX = "wh_"


class WebhookError(Exception):
    """Base class of the webhook endpoints' errors. See the module docstring."""


class InvalidEndpoint(WebhookError):
    """A URL or event list that cannot be used."""


class EndpointNotFound(WebhookError):
    """No such endpoint in the caller's account."""


class DeliveryNotFound(WebhookError):
    """No such delivery in the caller's account."""


class EndpointDisabled(WebhookError):
    """The endpoint is disabled: enable it before replaying its deliveries."""


@dataclass(frozen=True, slots=True)
class EndpointView:
    """An endpoint as its owner sees it (never with its secret)."""

    id: str
    account_id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    previous_secret_until: datetime | None
    created_at: datetime
    updated_at: datetime


_ENDPOINT_COLUMNS = (
    WebhookEndpoint.id,
    WebhookEndpoint.account_id,
    WebhookEndpoint.url,
    WebhookEndpoint.events,
    WebhookEndpoint.enabled,
    WebhookEndpoint.disabled_reason,
    WebhookEndpoint.previous_secret_until,
    WebhookEndpoint.created_at,
    WebhookEndpoint.updated_at,
)


def check_url(url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a host; raise InvalidEndpoint else."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidEndpoint(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # Spaces and control characters (NUL, which PostgreSQL refuses in text, among them).
    if any(
        character.isspace() or ord(character) < 32 or ord(character) == 127 for character in url
    ):
        raise InvalidEndpoint("the URL must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError as error:
        raise InvalidEndpoint(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidEndpoint("the URL must start with http:// or https://")
    if not parts.hostname:
        raise InvalidEndpoint("the URL must name a host")
    return url


def check_events(events: Sequence[str]) -> list[str]:
    """``events`` without repeats, in order; raise InvalidEndpoint for none or unknown ones."""
    if not events:
        raise InvalidEndpoint("subscribe to at least one event")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        known = ", ".join(EVENT_TYPES)
        raise InvalidEndpoint(f"unknown event {unknown[0]!r}; known events: {known}")
    return list(dict.fromkeys(events))


async def create_endpoint(
    db: Database, account_id: int, url: str, events: Sequence[str], now: datetime
) -> tuple[EndpointView, str]:
    """A new enabled endpoint and its secret (the only time the secret is given out)."""
    url, wanted = check_url(url), check_events(events)
    secret = generate_secret()
    endpoint_id = new_id(ENDPOINT_ID_PREFIX)

    def insert_endpoint(connection: Connection) -> EndpointView:
        count = connection.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.account_id == account_id)
        )
        if (count or 0) >= MAX_ENDPOINTS:
            raise InvalidEndpoint(f"an account has at most {MAX_ENDPOINTS} webhook endpoints")
        connection.execute(
            insert(WebhookEndpoint).values(
                id=endpoint_id,
                account_id=account_id,
                url=url,
                events=wanted,
                secret=secret,
                enabled=True,
                created_at=now,
                updated_at=now,
            )
        )
        return _endpoint(connection, account_id, endpoint_id)

    return await db.run_write(insert_endpoint), secret


async def list_endpoints(db: Database, account_id: int) -> list[EndpointView]:
    """The account's endpoints, oldest first."""
    async with db.read() as connection:
        rows = await connection.execute(
            select(*_ENDPOINT_COLUMNS)
            .where(WebhookEndpoint.account_id == account_id)
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
        return [EndpointView(**row._mapping) for row in rows]


async def get_endpoint(db: Database, account_id: int, endpoint_id: str) -> EndpointView:
    async with db.read() as connection:
        row = (
            await connection.execute(
                select(*_ENDPOINT_COLUMNS).where(*owned_endpoint(account_id, endpoint_id))
            )
        ).first()
    if row is None:
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return EndpointView(**row._mapping)


async def update_endpoint(
    db: Database,
    account_id: int,
    endpoint_id: str,
    now: datetime,
    *,
    url: str | None = None,
    events: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> EndpointView:
    """Change what is given; enabling an endpoint clears why it was disabled."""
    values: dict[str, Any] = {"updated_at": now}
    if url is not None:
        values["url"] = check_url(url)
    if events is not None:
        values["events"] = check_events(events)
    if enabled is not None:
        values["enabled"] = enabled
        values["disabled_reason"] = None if enabled else "disabled by the account"

    def change(connection: Connection) -> EndpointView:
        found = connection.execute(
            update(WebhookEndpoint)
            .where(*owned_endpoint(account_id, endpoint_id))
            .values(**values)
            .returning(WebhookEndpoint.id)
        ).first()
        if found is None:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
        return _endpoint(connection, account_id, endpoint_id)

    return await db.run_write(change)


async def delete_endpoint(db: Database, account_id: int, endpoint_id: str) -> None:
    """Remove the endpoint with its deliveries and their attempts."""

    def remove(connection: Connection) -> None:
        found = connection.scalar(
            select(WebhookEndpoint.id).where(*owned_endpoint(account_id, endpoint_id))
        )
        if found is None:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
        deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
        connection.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries)))
        connection.execute(
            delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        )
        connection.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))

    await db.run_write(remove)


async def rotate_secret(
    db: Database, account_id: int, endpoint_id: str, now: datetime
) -> tuple[EndpointView, str]:
    """A new secret (returned: shown once); the current one keeps signing for
    :data:`ROTATION_OVERLAP`. Rotating again within the overlap drops the oldest."""
    secret = generate_secret()

    def rotate(connection: Connection) -> EndpointView:
        current = connection.scalar(
            select(WebhookEndpoint.secret).where(*owned_endpoint(account_id, endpoint_id))
        )
        if current is None:
            raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
        connection.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(
                secret=secret,
                previous_secret=current,
                previous_secret_until=now + ROTATION_OVERLAP,
                updated_at=now,
            )
        )
        return _endpoint(connection, account_id, endpoint_id)

    return await db.run_write(rotate), secret


def signing_secrets(
    secret: str, previous_secret: str | None, previous_until: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign a delivery at ``now``: the current one, and the previous one
    while its overlap lasts."""
    found = [secret]
    if previous_secret and previous_until is not None and now < previous_until:
        found.append(previous_secret)
    return found


def owned_endpoint(account_id: int, endpoint_id: str) -> tuple[Any, ...]:
    return (WebhookEndpoint.id == endpoint_id, WebhookEndpoint.account_id == account_id)


def _endpoint(connection: Connection, account_id: int, endpoint_id: str) -> EndpointView:
    row = connection.execute(
        select(*_ENDPOINT_COLUMNS).where(*owned_endpoint(account_id, endpoint_id))
    ).one()
    return EndpointView(**row._mapping)


__all__ = [
    "MAX_ENDPOINTS",
    "ROTATION_OVERLAP",
    "DeliveryNotFound",
    "EndpointDisabled",
    "EndpointNotFound",
    "EndpointView",
    "InvalidEndpoint",
    "WebhookError",
    "check_events",
    "check_url",
    "create_endpoint",
    "delete_endpoint",
    "get_endpoint",
    "list_endpoints",
    "owned_endpoint",
    "rotate_secret",
    "signing_secrets",
    "update_endpoint",
]
