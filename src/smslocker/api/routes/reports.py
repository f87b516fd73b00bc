"""``POST /api/v1/rentals/{id}/report``: the renter says the number did not work.

See :mod:`smslocker.guard.reports` for what a report does; here it is scoped to the
caller's account (another account's rental is 404, like one that does not exist).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from smslocker import rentals
from smslocker.guard import audit
from smslocker.guard.reports import Reason, report

from ..auth import User
from ..deps import PlatformDep
from ..problems import Problem
from ..views import problems
from .rentals import V1, RentalId, checked_rental_id

router = APIRouter(tags=["rentals"])


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Optional here, required below: another account's rental must answer 404 whatever
    # the body is, so ownership is checked before "reason is missing".
    reason: Reason | None = Field(None, description="required")


@router.post(
    V1 + "/rentals/{rental_id}/report",
    status_code=201,
    summary="Report that the number did not work for the service",
    responses=problems(401, 403, 404, 409, 422, 429),
)
async def post_report(
    platform: PlatformDep, principal: User, rental_id: RentalId, body: ReportIn
) -> dict[str, Any]:
    """``no_code`` (the code never came), ``number_rejected`` (the service refused the
    number) or ``wrong_message``. The number is not offered for this rental's service
    again. One report per rental (409 ``already-reported``), a few per hour (429)."""
    rental_id = checked_rental_id(rental_id)
    if body.reason is None:
        await rentals.get_rental(platform.db, principal.account_id, rental_id)  # else 404
        raise Problem(422, "validation-error", "reason: Field required")
    outcome = await report(
        platform.db,
        platform.settings.guard,
        platform.settings.policy,
        account_id=principal.account_id,
        rental_id=rental_id,
        reason=body.reason,
        now=platform.now(),
        actor=audit.current_actor(f"account:{principal.account_id}"),
    )
    return outcome.as_json()
