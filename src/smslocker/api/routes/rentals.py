"""Renting: what is available, rent, list, extend, release, cancel.

Every route is scoped to the caller's account: another account's rental answers 404
``rental-not-found``, exactly like a rental that does not exist, so ids cannot be
probed. The messages of a rental (with long-poll) are in :mod:`.messages`, the short
forms (``/api/numbers``, ``/api/rent``, ``/api/messages``) in :mod:`.short_forms`;
both are included in this module's router.

Writes go through :mod:`smslocker.rentals` with a :class:`~smslocker.delivery.
rental_events.RentalEvents` observer: the ``rental.*`` webhook rows commit with the
change, and the event reaches the push streams after the commit.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select

from smslocker import rentals
from smslocker.accounts import Principal
from smslocker.delivery.rental_events import RentalEvents
from smslocker.log import get_logger
from smslocker.platform import Platform
from smslocker.rentals import RentalNotFound, RentalStatus, RentalView, RentRequest
from smslocker.rentals.views import RENTAL_COLUMNS
from smslocker.store.models import Rental

from .. import availability
from .. import guard as guard_hooks
from ..auth import User
from ..deps import PlatformDep
from ..views import (
    AvailabilityOut,
    RentalOut,
    RentalPage,
    problems,
    rental_json,
)

log = get_logger(__name__)

V1 = "/api/v1"
# No prefix: the short forms (under /api) are included in this router too.
router = APIRouter(tags=["rentals"])

# Query and body strings reach SQL: bounded, printable, no NUL (PostgreSQL refuses it in
# text, which would otherwise be a 500).
COUNTRY = r"^[A-Za-z]{2}$"
SERVICE = r"^[A-Za-z0-9_.\-]{1,50}$"
CARRIER = r"^[^\x00-\x1f\x7f]{1,100}$"
NUMBER = r"^[^\x00-\x1f\x7f]{1,32}$"
_RENTAL_ID = re.compile(r"[A-Za-z0-9_]{1,64}")

Country = Annotated[str | None, Query(pattern=COUNTRY, description="ISO 3166-1 alpha-2")]
Service = Annotated[str | None, Query(pattern=SERVICE, description="e.g. google, whatsapp")]
Carrier = Annotated[str | None, Query(pattern=CARRIER)]
RentalId = Annotated[str, Path(description="a rental id (`rnt_...`)")]


class RentIn(BaseModel):
    """Rent ``number`` itself, or let the platform pick one by the filters."""

    model_config = ConfigDict(extra="forbid")

    number: str | None = Field(None, pattern=NUMBER, description="E.164, best with '+'")
    country: str | None = Field(None, pattern=COUNTRY)
    service: str | None = Field(None, pattern=SERVICE)
    carrier: str | None = Field(None, pattern=CARRIER)
    duration_s: int | None = Field(
        None, ge=1, le=10**9, description="seconds; capped by the operator's maximum"
    )
    mobile_only: bool = False


class ExtendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration_s: int | None = Field(
        None, ge=1, le=10**9, description="seconds to add (default: the standard length)"
    )


# --------------------------------------------------------------------------- use cases


def checked_rental_id(rental_id: str) -> str:
    """``rental_id`` if it could be an id; anything else is simply not found."""
    if not _RENTAL_ID.fullmatch(rental_id):
        raise RentalNotFound(f"no rental {rental_id[:64]!r}")
    return rental_id


async def rent_for(platform: Platform, principal: Principal, body: RentIn) -> RentalView:
    request = RentRequest(
        service=body.service,
        country=body.country.upper() if body.country else None,
        carrier=body.carrier,
        mobile_only=body.mobile_only,
        number=body.number,
        duration_s=body.duration_s,
    )
    await guard_hooks.before_rent(platform, principal)  # quota, slow-down (429)
    observer = RentalEvents(platform.clock, platform.bus)
    rental = await rentals.rent(
        platform.db,
        principal.account_id,
        request,
        platform.now(),
        platform.settings.policy,
        observer=observer,
    )
    await observer.committed()
    await guard_hooks.after_rent(platform, principal, rental)  # abuse rules
    return rental


async def numbers_for(
    platform: Platform, principal: Principal, filters: availability.Filters, limit: int
) -> dict[str, Any]:
    now, policy = platform.now(), platform.settings.policy
    groups = await availability.available(platform.db, filters, now, policy)
    body: dict[str, Any] = {
        "total": sum(group.count for group in groups),
        "available": [
            {
                "country": group.country,
                "carrier": group.carrier,
                "service": group.service,
                "count": group.count,
                "price": group.price,
            }
            for group in groups
        ],
        "numbers": None,
    }
    if principal.is_admin:
        free = await availability.free_numbers(platform.db, filters, now, policy, limit=limit)
        body["numbers"] = [
            {
                "number": number.number,
                "country": number.country,
                "carrier": number.carrier,
                "line_type": number.line_type,
                "connector": number.connector,
            }
            for number in free
        ]
    return body


async def _page(
    platform: Platform,
    account_id: int,
    *,
    status: str | None,
    service: str | None,
    before: str | None,
    limit: int,
) -> tuple[list[RentalView], str | None]:
    """The account's rentals, newest first, older than ``before`` (a rental id)."""
    query = select(*RENTAL_COLUMNS).where(Rental.account_id == account_id)
    if status is not None:
        query = query.where(Rental.status == status)
    if service is not None:
        query = query.where(Rental.service == service)
    if before is not None:
        last = await rentals.get_rental(platform.db, account_id, checked_rental_id(before))
        query = query.where(
            or_(
                Rental.started_at < last.started_at,
                and_(Rental.started_at == last.started_at, Rental.id < last.id),
            )
        )
    query = query.order_by(Rental.started_at.desc(), Rental.id.desc()).limit(limit + 1)
    async with platform.db.read() as connection:
        rows = (await connection.execute(query)).all()
    page = [RentalView.from_row(row) for row in rows[:limit]]
    return page, (page[-1].id if len(rows) > limit else None)


# --------------------------------------------------------------------------- routes


@router.get(
    V1 + "/numbers",
    response_model=AvailabilityOut,
    summary="What can be rented now",
    responses=problems(401, 403, 422),
)
async def get_numbers(
    platform: PlatformDep,
    principal: User,
    country: Country = None,
    service: Service = None,
    carrier: Carrier = None,
    mobile_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000, description="admins: numbers listed")] = 100,
) -> dict[str, Any]:
    """Counts of rentable numbers per country and carrier, with the price of a rental
    for ``service``. Admin keys also get the numbers themselves (``limit`` of them)."""
    filters = availability.Filters(country, service, carrier, mobile_only)
    return await numbers_for(platform, principal, filters, limit)


@router.post(
    V1 + "/rentals",
    response_model=RentalOut,
    status_code=201,
    summary="Rent a number",
    responses=problems(401, 402, 403, 404, 409, 422),
)
async def post_rental(
    platform: PlatformDep, principal: User, body: RentIn, response: Response
) -> dict[str, Any]:
    """Rent ``number``, or a number the platform picks by ``country``, ``service``,
    ``carrier`` and ``mobile_only``. The price is charged now and refunded in full if the
    rental ends with no SMS. 409 ``no-number-available`` when nothing matches right now."""
    rental = await rent_for(platform, principal, body)
    response.headers["Location"] = f"/api/v1/rentals/{rental.id}"
    return rental_json(rental)


@router.get(
    V1 + "/rentals",
    response_model=RentalPage,
    summary="My rentals, newest first",
    responses=problems(401, 403, 404, 422),
)
async def get_rentals(
    platform: PlatformDep,
    principal: User,
    status: Annotated[RentalStatus | None, Query()] = None,
    service: Service = None,
    before: Annotated[
        str | None, Query(max_length=64, description="a rental id: the page after it")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    page, next_before = await _page(
        platform,
        principal.account_id,
        status=status.value if status is not None else None,
        service=service,
        before=before,
        limit=limit,
    )
    return {"rentals": [rental_json(rental) for rental in page], "next_before": next_before}


@router.get(
    V1 + "/rentals/{rental_id}",
    response_model=RentalOut,
    summary="One of my rentals",
    responses=problems(401, 403, 404),
)
async def get_rental(platform: PlatformDep, principal: User, rental_id: RentalId) -> dict[str, Any]:
    rental = await rentals.get_rental(
        platform.db, principal.account_id, checked_rental_id(rental_id)
    )
    return rental_json(rental)


@router.post(
    V1 + "/rentals/{rental_id}/extend",
    response_model=RentalOut,
    summary="Make an active rental last longer",
    responses=problems(401, 403, 404, 409, 422),
)
async def extend_rental(
    platform: PlatformDep,
    principal: User,
    rental_id: RentalId,
    body: Annotated[ExtendIn | None, Body()] = None,
) -> dict[str, Any]:
    """Push the end back by ``duration_s`` (free of charge), up to the operator's maximum
    rental length; 422 ``rental-limit-reached`` when it is there already."""
    observer = RentalEvents(platform.clock, platform.bus)
    rental = await rentals.extend(
        platform.db,
        principal.account_id,
        checked_rental_id(rental_id),
        platform.now(),
        platform.settings.policy,
        duration_s=body.duration_s if body is not None else None,
        observer=observer,
    )
    await observer.committed()
    return rental_json(rental)


async def _end(
    platform: Platform,
    principal: Principal,
    rental_id: str,
    how: Literal["release", "cancel"],
) -> dict[str, Any]:
    end = rentals.release if how == "release" else rentals.cancel
    observer = RentalEvents(platform.clock, platform.bus)
    rental = await end(
        platform.db,
        principal.account_id,
        checked_rental_id(rental_id),
        platform.now(),
        platform.settings.policy,
        observer=observer,
    )
    await observer.committed()
    await guard_hooks.after_end(platform, principal, rental)  # abuse rules
    return rental_json(rental)


@router.post(
    V1 + "/rentals/{rental_id}/release",
    response_model=RentalOut,
    summary="I am done with the number",
    responses=problems(401, 403, 404, 409),
)
async def release_rental(
    platform: PlatformDep, principal: User, rental_id: RentalId
) -> dict[str, Any]:
    """End the rental as completed; refunded in full if no SMS came. Messages sent before
    the release that arrive within the grace period are still yours."""
    return await _end(platform, principal, rental_id, "release")


@router.post(
    V1 + "/rentals/{rental_id}/cancel",
    response_model=RentalOut,
    summary="Give the number up",
    responses=problems(401, 403, 404, 409),
)
async def cancel_rental(
    platform: PlatformDep, principal: User, rental_id: RentalId
) -> dict[str, Any]:
    """End the rental as cancelled; refunded in full if no SMS came."""
    return await _end(platform, principal, rental_id, "cancel")


def expires_in(rental: RentalView, now: datetime) -> int:
    """Whole seconds left in the rental (0 once it has ended or expired)."""
    if not rental.active:
        return 0
    return max(0, int((rental.expires_at - now).total_seconds()))


def _include_sub_routers() -> None:
    from . import messages, reports, short_forms

    router.include_router(messages.router)
    router.include_router(short_forms.router)
    router.include_router(reports.router)


_include_sub_routers()
