"""The short forms that services of this kind use, as aliases of ``/api/v1``:

- ``GET /api/numbers?country=US&service=google`` = ``GET /api/v1/numbers``;
- ``POST /api/rent {"number": ...}`` = ``POST /api/v1/rentals``, answering the rental
  with ``session_id`` (the rental id) and ``expires_in`` (seconds left);
- ``GET /api/messages?session_id=...`` = ``GET /api/v1/rentals/{id}/messages``.

Same authentication, same errors, same bodies otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from .. import availability
from ..auth import User
from ..deps import PlatformDep
from ..views import AvailabilityOut, MessagePage, SessionOut, problems, rental_json
from .messages import After, Limit, Wait, read_messages
from .rentals import Carrier, Country, RentIn, Service, expires_in, numbers_for, rent_for

router = APIRouter(prefix="/api", tags=["short forms"])


@router.get(
    "/numbers",
    response_model=AvailabilityOut,
    summary="What can be rented now (alias of /api/v1/numbers)",
    responses=problems(401, 403, 422),
)
async def short_numbers(
    platform: PlatformDep,
    principal: User,
    country: Country = None,
    service: Service = None,
    carrier: Carrier = None,
) -> dict[str, Any]:
    filters = availability.Filters(country, service, carrier)
    return await numbers_for(platform, principal, filters, limit=100)


@router.post(
    "/rent",
    response_model=SessionOut,
    status_code=201,
    summary="Rent a number (alias of POST /api/v1/rentals)",
    responses=problems(401, 402, 403, 404, 409, 422),
)
async def short_rent(
    platform: PlatformDep, principal: User, body: RentIn, response: Response
) -> dict[str, Any]:
    rental = await rent_for(platform, principal, body)
    response.headers["Location"] = f"/api/v1/rentals/{rental.id}"
    return {
        **rental_json(rental),
        "session_id": rental.id,
        "expires_in": expires_in(rental, platform.now()),
    }


@router.get(
    "/messages",
    response_model=MessagePage,
    summary="A rental's messages (alias of /api/v1/rentals/{id}/messages)",
    responses=problems(401, 403, 404, 422),
)
async def short_messages(
    request: Request,
    platform: PlatformDep,
    principal: User,
    session_id: Annotated[str, Query(max_length=64, description="the rental id")],
    after: After = 0,
    limit: Limit = 100,
    wait: Wait = 0,
) -> dict[str, Any]:
    return await read_messages(
        platform, principal, session_id, after, limit, wait, request.is_disconnected
    )
