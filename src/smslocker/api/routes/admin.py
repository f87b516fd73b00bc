"""The operator's API under ``/api/v1/admin``: every route needs an admin key.

- numbers: list, show with rentals, CSV import, quarantine, retire, free
  (:mod:`.admin_numbers`);
- accounts, credits and ledger, API keys (:mod:`.admin_accounts`);
- connectors: add, list with live state, change, remove, start, stop
  (:mod:`.admin_connectors`);
- prices and unmatched messages (here).

The domain errors of the packages these routes call are mapped to problems below, at
import, so the packages stay free of HTTP.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from smslocker.accounts import KeyNotFound
from smslocker.gateway.registry import ConnectorExists, ConnectorNotFound, InvalidConnector
from smslocker.pool.importer import CsvFormatError
from smslocker.pool.lifecycle import InvalidTransition
from smslocker.pool.operator import NumberBusy, UnknownNumber
from smslocker.rentals import delete_price, list_prices, set_price
from smslocker.routing.inbox import unmatched_messages
from smslocker.store.types import MAX_BIG_ID

from ..auth import admin_principal
from ..deps import PlatformDep
from ..problems import Problem, register_domain_error
from ..views import message_json, problems
from . import admin_accounts, admin_connectors, admin_guard, admin_numbers

register_domain_error(UnknownNumber, 404, "number-not-found")
register_domain_error(NumberBusy, 409, "number-busy")
register_domain_error(InvalidTransition, 409, "invalid-transition")
register_domain_error(CsvFormatError, 422, "invalid-csv")
register_domain_error(KeyNotFound, 404, "key-not-found")
register_domain_error(ConnectorNotFound, 404, "connector-not-found")
register_domain_error(ConnectorExists, 409, "connector-exists")
register_domain_error(InvalidConnector, 422, "invalid-connector")

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    dependencies=[Depends(admin_principal)],
    responses=problems(401, 403),
)
router.include_router(admin_numbers.router)
router.include_router(admin_accounts.router)
router.include_router(admin_connectors.router)
router.include_router(admin_guard.router)

SERVICE = r"^[A-Za-z0-9_.\-]{1,50}$"
COUNTRY = r"^[A-Za-z]{2}$"


# --------------------------------------------------------------------------- prices


class PriceIn(BaseModel):
    """The price of rentals for ``service`` in ``country``; null in either means "any"."""

    model_config = ConfigDict(extra="forbid")

    service: str | None = Field(None, pattern=SERVICE)
    country: str | None = Field(None, pattern=COUNTRY)
    price: int = Field(ge=0, le=2**53 - 1, description="credits per rental")


@router.get("/prices", summary="The price table (the most specific row wins)")
async def get_prices(platform: PlatformDep) -> dict[str, Any]:
    rows = await list_prices(platform.db)
    return {
        "prices": [
            {"service": row.service, "country": row.country, "price": row.price} for row in rows
        ],
        "default_price": platform.settings.policy.default_price,
    }


@router.put("/prices", summary="Set a price", responses=problems(422))
async def put_price(platform: PlatformDep, body: PriceIn) -> dict[str, Any]:
    country = body.country.upper() if body.country else None
    await set_price(platform.db, body.price, service=body.service, country=country)
    return {"service": body.service, "country": country, "price": body.price}


@router.delete("/prices", status_code=204, summary="Remove a price row", responses=problems(404))
async def remove_price(
    platform: PlatformDep,
    service: Annotated[str | None, Query(pattern=SERVICE)] = None,
    country: Annotated[str | None, Query(pattern=COUNTRY)] = None,
) -> Response:
    if not await delete_price(platform.db, service=service, country=country):
        raise Problem(404, "price-not-found", "no price row for that service and country")
    return Response(status_code=204)


# --------------------------------------------------------------------------- messages


@router.get(
    "/messages/unmatched",
    summary="Messages that belong to no rental, oldest first (abuse review)",
)
async def get_unmatched(
    platform: PlatformDep,
    after: Annotated[int, Query(ge=0, le=MAX_BIG_ID, description="the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    messages = await unmatched_messages(
        platform.db, after=after, limit=limit, ring=platform.keyring
    )
    return {
        "messages": [
            {**message_json(message), "connector": message.connector} for message in messages
        ],
        "next_after": messages[-1].id if messages else after,
    }
