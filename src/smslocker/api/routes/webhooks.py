"""Webhooks: subscribe URLs to events, rotate their secrets, read the delivery log, replay.

Every route is scoped to the caller's account: another account's endpoint or delivery
answers 404, exactly like one that does not exist. Secrets (``whsec_...``) are in the
answer of create and rotate only; nothing shows them again. Deliveries are signed per
Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``) and
retried with exponential backoff over a day (:mod:`smslocker.delivery.worker`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from smslocker.delivery import endpoints, outbox
from smslocker.delivery.endpoints import EndpointView
from smslocker.delivery.events import EVENT_TYPES
from smslocker.delivery.outbox import DeliveryView

from ..auth import User
from ..deps import PlatformDep
from ..problems import register_domain_error
from ..views import iso, problems

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

register_domain_error(endpoints.InvalidEndpoint, 422, "invalid-webhook")
register_domain_error(endpoints.EndpointNotFound, 404, "webhook-not-found")
register_domain_error(endpoints.DeliveryNotFound, 404, "delivery-not-found")
register_domain_error(endpoints.EndpointDisabled, 409, "webhook-disabled")

EventName = Literal[
    "message.received",
    "rental.created",
    "rental.extended",
    "rental.released",
    "rental.cancelled",
    "rental.expired",
    "alert.raised",
]
assert set(get_args(EventName)) == set(EVENT_TYPES), "EventName must list EVENT_TYPES"

# Ids reach SQL: anything that cannot be an id is simply not found (PostgreSQL would
# refuse a NUL in text: a 500, not an answer).
_ID = r"^[A-Za-z0-9_]{1,64}$"
EndpointId = Annotated[str, Path(pattern=_ID, description="a webhook endpoint id (`wh_...`)")]
DeliveryId = Annotated[str, Path(pattern=_ID, description="a delivery id (`msg_...`)")]
Url = Annotated[str, Field(min_length=1, max_length=endpoints.MAX_URL_LENGTH)]
Events = Annotated[list[EventName], Field(min_length=1, max_length=len(EVENT_TYPES) * 4)]


def _url(value: str | None) -> str | None:
    # A pydantic validator, so a bad URL is a 422 validation problem naming the field.
    if value is None:
        return None
    try:
        return endpoints.check_url(value)
    except endpoints.InvalidEndpoint as error:
        raise ValueError(str(error)) from None


class WebhookIn(BaseModel):
    """Subscribe ``url`` to ``events``."""

    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="http:// or https://", examples=["https://example.com/hooks"])
    events: Events = Field(examples=[["message.received"]])

    _check_url = field_validator("url")(_url)


class WebhookPatch(BaseModel):
    """Change what is given; ``enabled: true`` also re-enables an endpoint disabled
    after a 410."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    events: Events | None = None
    enabled: bool | None = None

    _check_url = field_validator("url")(_url)


class WebhookOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(examples=["wh_01JZ3K4X8Q7N2M5P6R9S0T1V2W"])
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="why it stopped (a 410, or its owner)")
    previous_secret_expires_at: datetime | None = Field(
        description="until then the previous secret signs too (after a rotation)"
    )
    created_at: datetime
    updated_at: datetime


class WebhookSecretOut(WebhookOut):
    """The endpoint with its secret: shown this once, keep it."""

    secret: str = Field(description="`whsec_...`: verify `webhook-signature` with it")


class WebhookList(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhooks: list[WebhookOut]


class AttemptOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attempted_at: datetime
    status_code: int | None = Field(description="the receiver's HTTP status, if it answered")
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="the `webhook-id` header: the same on every attempt")
    endpoint_id: str
    event_type: str
    payload: dict[str, Any] | str = Field(description="the body POSTed")
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deliveries: list[DeliveryOut]
    next_before: str | None = Field(description="pass as `before` for the next (older) page")


def endpoint_json(endpoint: EndpointView) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_expires_at": iso(endpoint.previous_secret_until),
        "created_at": iso(endpoint.created_at),
        "updated_at": iso(endpoint.updated_at),
    }


def delivery_json(delivery: DeliveryView) -> dict[str, Any]:
    try:
        payload: Any = json.loads(delivery.payload)
    except ValueError:
        payload = delivery.payload
    return {
        "id": delivery.id,
        "endpoint_id": delivery.endpoint_id,
        "event_type": delivery.event_type,
        "payload": payload,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
        "attempt_log": [
            {
                "attempted_at": iso(attempt.attempted_at),
                "status_code": attempt.status_code,
                "error": attempt.error,
                "duration_ms": attempt.duration_ms,
            }
            for attempt in delivery.attempt_log
        ],
    }


@router.post(
    "",
    response_model=WebhookSecretOut,
    status_code=201,
    summary="Subscribe a URL to events",
    responses=problems(401, 403, 422),
)
async def create_webhook(
    platform: PlatformDep, principal: User, body: WebhookIn, response: Response
) -> dict[str, Any]:
    """The answer holds the endpoint's `secret`, shown this once: keep it to verify the
    `webhook-signature` of each delivery."""
    endpoint, secret = await endpoints.create_endpoint(
        platform.db, principal.account_id, body.url, body.events, platform.now()
    )
    response.headers["Location"] = f"/api/v1/webhooks/{endpoint.id}"
    return {**endpoint_json(endpoint), "secret": secret}


@router.get(
    "", response_model=WebhookList, summary="My webhook endpoints", responses=problems(401, 403)
)
async def list_webhooks(platform: PlatformDep, principal: User) -> dict[str, Any]:
    found = await endpoints.list_endpoints(platform.db, principal.account_id)
    return {"webhooks": [endpoint_json(endpoint) for endpoint in found]}


@router.get(
    "/{endpoint_id}",
    response_model=WebhookOut,
    summary="One of my webhook endpoints",
    responses=problems(401, 403, 404),
)
async def get_webhook(
    platform: PlatformDep, principal: User, endpoint_id: EndpointId
) -> dict[str, Any]:
    endpoint = await endpoints.get_endpoint(platform.db, principal.account_id, endpoint_id)
    return endpoint_json(endpoint)


@router.patch(
    "/{endpoint_id}",
    response_model=WebhookOut,
    summary="Change a webhook endpoint's URL, events or enabled flag",
    responses=problems(401, 403, 404, 422),
)
async def update_webhook(
    platform: PlatformDep, principal: User, endpoint_id: EndpointId, body: WebhookPatch
) -> dict[str, Any]:
    endpoint = await endpoints.update_endpoint(
        platform.db,
        principal.account_id,
        endpoint_id,
        platform.now(),
        url=body.url,
        events=body.events,
        enabled=body.enabled,
    )
    return endpoint_json(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Remove a webhook endpoint and its delivery log",
    responses=problems(401, 403, 404),
)
async def delete_webhook(
    platform: PlatformDep, principal: User, endpoint_id: EndpointId
) -> Response:
    await endpoints.delete_endpoint(platform.db, principal.account_id, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate",
    response_model=WebhookSecretOut,
    summary="Give the endpoint a new secret",
    responses=problems(401, 403, 404),
)
async def rotate_webhook_secret(
    platform: PlatformDep, principal: User, endpoint_id: EndpointId
) -> dict[str, Any]:
    """The new `secret` is shown this once. For 24 hours deliveries carry two signatures,
    one per secret, so a receiver can switch whenever it likes within that time."""
    endpoint, secret = await endpoints.rotate_secret(
        platform.db, principal.account_id, endpoint_id, platform.now()
    )
    return {**endpoint_json(endpoint), "secret": secret}


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    summary="The endpoint's delivery log, newest first, with every attempt",
    responses=problems(401, 403, 404, 422),
)
async def list_webhook_deliveries(
    platform: PlatformDep,
    principal: User,
    endpoint_id: EndpointId,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    before: Annotated[str | None, Query(pattern=_ID, description="a delivery id")] = None,
    limit: Annotated[int, Query(ge=1, le=outbox.MAX_PAGE)] = 50,
) -> dict[str, Any]:
    page, next_before = await outbox.list_deliveries(
        platform.db, principal.account_id, endpoint_id, status=status, before=before, limit=limit
    )
    return {
        "deliveries": [delivery_json(delivery) for delivery in page],
        "next_before": next_before,
    }


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryOut,
    summary="One delivery, with every attempt",
    responses=problems(401, 403, 404),
)
async def get_webhook_delivery(
    platform: PlatformDep, principal: User, delivery_id: DeliveryId
) -> dict[str, Any]:
    delivery = await outbox.get_delivery(platform.db, principal.account_id, delivery_id)
    return delivery_json(delivery)


@router.post(
    "/deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    summary="Send a delivery again",
    responses=problems(401, 403, 404, 409),
)
async def replay_webhook_delivery(
    platform: PlatformDep, principal: User, delivery_id: DeliveryId
) -> dict[str, Any]:
    """Queue the delivery again, due now, with a fresh retry schedule. Its `webhook-id`
    stays the same. 409 when its endpoint is disabled."""
    delivery = await outbox.replay_delivery(
        platform.db, principal.account_id, delivery_id, platform.now()
    )
    return delivery_json(delivery)
