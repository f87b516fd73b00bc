"""Admin: inbound filters (allow, deny and hold rules) and the held messages they keep back.

- ``GET/POST /api/v1/admin/filters``, ``PATCH/DELETE /api/v1/admin/filters/{id}``: the
  rules (:mod:`smslocker.screening.store`); a rule that cannot be used (a regex that does
  not compile, a service on anything but a source allow rule) is a 422 problem.
- ``GET /api/v1/admin/messages/held``: the review queue, oldest first, paged by ``after``;
  ``POST .../messages/{id}/release`` puts one in its rental's inbox (with a new id, and
  its ``message.received`` event and webhooks), ``POST .../messages/{id}/drop`` deletes
  it (:mod:`smslocker.screening.held`).

Every change writes its own audit entry in the transaction of the change.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict
from pydantic import Field as Spec

from smslocker.delivery.events import publish
from smslocker.guard import audit
from smslocker.screening import held
from smslocker.screening.rules import MAX_PATTERN, Action, Field, InvalidRule, Match
from smslocker.screening.store import (
    FilterNotFound,
    create_filter,
    delete_filter,
    list_filters,
    update_filter,
)
from smslocker.store.types import MAX_BIG_ID, MAX_ID

from ..auth import admin_principal
from ..deps import PlatformDep
from ..problems import register_domain_error
from ..views import problems

register_domain_error(InvalidRule, 422, "invalid-filter")
register_domain_error(FilterNotFound, 404, "filter-not-found")
register_domain_error(held.HeldMessageNotFound, 404, "held-message-not-found")

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    dependencies=[Depends(admin_principal)],
    responses=problems(401, 403),
)

CONNECTOR = r"^[A-Za-z0-9_.:\-]{1,100}$"
SERVICE = r"^[A-Za-z0-9_.\-]{1,50}$"
FilterId = Annotated[int, Path(ge=1, le=MAX_ID)]
MessageId = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]


class FilterIn(BaseModel):
    """A rule: ``action`` the messages whose ``field`` matches ``pattern`` (see
    smslocker.screening.rules for the order rules decide in)."""

    model_config = ConfigDict(extra="forbid")

    field: Field = Spec(description="smsc (the connector), source (the sender) or content")
    match: Match = Spec(Match.EXACT, description="exact, prefix, contains (any case) or regex")
    pattern: str = Spec(min_length=1, max_length=MAX_PATTERN)
    action: Action = Spec(description="allow, deny or hold")
    connector: str | None = Spec(None, pattern=CONNECTOR, description="null: every connector")
    service: str | None = Spec(
        None, pattern=SERVICE, description="a sender allow-list of this service (allow, source)"
    )
    enabled: bool = True
    note: str | None = Spec(None, max_length=200)


class FilterPatch(BaseModel):
    """The fields to change; the rule as a whole is checked again."""

    model_config = ConfigDict(extra="forbid")

    field: Field | None = None
    match: Match | None = None
    pattern: str | None = Spec(None, min_length=1, max_length=MAX_PATTERN)
    action: Action | None = None
    connector: str | None = Spec(None, pattern=CONNECTOR)
    service: str | None = Spec(None, pattern=SERVICE)
    enabled: bool | None = None
    note: str | None = Spec(None, max_length=200)


def _actor() -> str:
    return audit.current_actor("admin")


# --------------------------------------------------------------------------- filters


@router.get("/filters", summary="The inbound filter rules, by id")
async def get_filters(platform: PlatformDep) -> dict[str, Any]:
    return {"filters": [record.as_json() for record in await list_filters(platform.db)]}


@router.post(
    "/filters", status_code=201, summary="Add an inbound filter rule", responses=problems(422)
)
async def post_filter(platform: PlatformDep, body: FilterIn) -> dict[str, Any]:
    record = await create_filter(
        platform.db, **body.model_dump(), now=platform.now(), actor=_actor()
    )
    return record.as_json()


@router.patch(
    "/filters/{filter_id}", summary="Change an inbound filter rule", responses=problems(404, 422)
)
async def patch_filter(
    platform: PlatformDep, filter_id: FilterId, body: FilterPatch
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    for name in ("field", "match", "pattern", "action", "enabled"):
        if name in changes and changes[name] is None:
            raise InvalidRule(f"{name} cannot be null")
    record = await update_filter(
        platform.db, filter_id, changes, now=platform.now(), actor=_actor()
    )
    return record.as_json()


@router.delete(
    "/filters/{filter_id}",
    status_code=204,
    summary="Remove an inbound filter rule",
    responses=problems(404),
)
async def remove_filter(platform: PlatformDep, filter_id: FilterId) -> Response:
    await delete_filter(platform.db, filter_id, now=platform.now(), actor=_actor())
    return Response(status_code=204)


# --------------------------------------------------------------------------- held messages


@router.get("/messages/held", summary="Messages held by a filter, oldest first")
async def get_held(
    platform: PlatformDep,
    after: Annotated[int, Query(ge=0, le=MAX_BIG_ID, description="the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=held.MAX_LIMIT)] = 100,
) -> dict[str, Any]:
    found = await held.held_messages(platform.db, after=after, limit=limit, ring=platform.keyring)
    return {
        "messages": [message.as_json() for message in found],
        "next_after": found[-1].id if len(found) == limit else None,
    }


@router.post(
    "/messages/{message_id}/release",
    summary="Release a held message into its rental's inbox (it gets a new id)",
    responses=problems(404),
)
async def post_release(platform: PlatformDep, message_id: MessageId) -> dict[str, Any]:
    message, events = await held.release(
        platform.db, message_id, now=platform.now(), actor=_actor(), ring=platform.keyring
    )
    await publish(platform.bus, events)  # after the commit; never raises (events.publish)
    return {"held_id": message_id, "message": message.as_json()}


@router.post(
    "/messages/{message_id}/drop", summary="Delete a held message", responses=problems(404)
)
async def post_drop(platform: PlatformDep, message_id: MessageId) -> dict[str, Any]:
    message = await held.drop(platform.db, message_id, now=platform.now(), actor=_actor())
    return {"dropped": message.id}
