"""Admin: abuse alerts, an account's standing (verify, suspend, unsuspend, tier), and the
audit trail (filter, export as JSON lines, verify the chain). Included in
:mod:`.admin`'s router, which makes every route admin-only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from smslocker.guard import audit
from smslocker.guard.alerts import list_alerts
from smslocker.guard.standing import Standing, set_status, set_tier, standing_of
from smslocker.platform import Platform
from smslocker.store.types import MAX_BIG_ID, MAX_ID

from ..deps import PlatformDep
from ..problems import Problem
from ..views import problems

router = APIRouter()

TIER = r"^[A-Za-z0-9_.\-]{1,20}$"
NAME = r"^[A-Za-z0-9_.:\-]{1,100}$"
AccountId = Annotated[int, Path(ge=1, le=MAX_ID)]


class TierIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: str = Field(pattern=TIER, description="e.g. unverified, verified, trusted")


class VerifyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: str = Field("verified", pattern=TIER, description="the tier the account gets")


def _actor() -> str:
    return audit.current_actor("admin")


# --------------------------------------------------------------------------- alerts


@router.get("/alerts", summary="Abuse alerts with their evidence, newest first")
async def get_alerts(
    platform: PlatformDep,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    rule: Annotated[str | None, Query(pattern=NAME)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the last id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    alerts = await list_alerts(
        platform.db, account_id=account_id, rule=rule, before=before, limit=limit
    )
    return {
        "alerts": [alert.as_json() for alert in alerts],
        "next_before": alerts[-1].id if len(alerts) == limit else None,
    }


# --------------------------------------------------------------------------- standing


@router.get(
    "/accounts/{account_id}/standing",
    summary="Where the abuse rules stand with an account",
    responses=problems(404),
)
async def get_standing(platform: PlatformDep, account_id: AccountId) -> dict[str, Any]:
    return (await standing_of(platform.db, account_id)).as_json()


async def _answer(standing: Standing) -> dict[str, Any]:
    return standing.as_json()


@router.post(
    "/accounts/{account_id}/verify",
    summary="Verify an account: it gets `tier` (default verified), verification is no "
    "longer required",
    responses=problems(404, 422),
)
async def post_verify(
    platform: PlatformDep, account_id: AccountId, body: VerifyIn | None = None
) -> dict[str, Any]:
    tier = body.tier if body is not None else "verified"
    standing = await set_tier(
        platform.db, account_id, tier, platform.now(), actor=_actor(), verify=True
    )
    return await _answer(standing)


@router.put(
    "/accounts/{account_id}/tier", summary="Set an account's tier", responses=problems(404, 422)
)
async def put_tier(platform: PlatformDep, account_id: AccountId, body: TierIn) -> dict[str, Any]:
    standing = await set_tier(platform.db, account_id, body.tier, platform.now(), actor=_actor())
    return await _answer(standing)


@router.post(
    "/accounts/{account_id}/suspend",
    summary="Suspend an account (its keys get 403)",
    responses=problems(404),
)
async def post_suspend(platform: PlatformDep, account_id: AccountId) -> dict[str, Any]:
    return await _answer(await _status(platform, account_id, "suspended"))


@router.post(
    "/accounts/{account_id}/unsuspend", summary="Reinstate an account", responses=problems(404)
)
async def post_unsuspend(platform: PlatformDep, account_id: AccountId) -> dict[str, Any]:
    return await _answer(await _status(platform, account_id, "active"))


async def _status(platform: Platform, account_id: int, status: str) -> Standing:
    return await set_status(platform.db, account_id, status, platform.now(), actor=_actor())


# --------------------------------------------------------------------------- audit


def _filter(
    actor: str | None,
    action: str | None,
    account_id: int | None,
    since: datetime | None,
    until: datetime | None,
) -> audit.AuditFilter:
    for name, moment in (("since", since), ("until", until)):
        if moment is not None and moment.tzinfo is None:
            raise Problem(422, "validation-error", f"{name}: give a time zone (e.g. Z)")
    return audit.AuditFilter(actor, action, account_id, since, until)


Actor = Annotated[str | None, Query(pattern=NAME, description="e.g. key:abc..., guard")]
Action = Annotated[str | None, Query(pattern=NAME, description="e.g. key.created")]
AccountFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Since = Annotated[datetime | None, Query(description="entries at or after (ISO 8601)")]
Until = Annotated[datetime | None, Query(description="entries before (ISO 8601)")]


@router.get("/audit", summary="The audit trail, oldest first (page with `after`)")
async def get_audit(
    platform: PlatformDep,
    actor: Actor = None,
    action: Action = None,
    account_id: AccountFilter = None,
    since: Since = None,
    until: Until = None,
    after: Annotated[int, Query(ge=0, le=MAX_BIG_ID, description="the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    where = _filter(actor, action, account_id, since, until)
    found = await audit.entries(platform.db, where, after=after, limit=limit)
    return {
        "entries": [entry.as_json() for entry in found],
        "next_after": found[-1].id if len(found) == limit else None,
    }


@router.get(
    "/audit/export",
    summary="The audit trail as JSON lines (one entry per line, oldest first)",
    response_class=StreamingResponse,
)
async def export_audit(
    platform: PlatformDep,
    actor: Actor = None,
    action: Action = None,
    account_id: AccountFilter = None,
    since: Since = None,
    until: Until = None,
) -> StreamingResponse:
    where = _filter(actor, action, account_id, since, until)

    async def lines() -> AsyncIterator[str]:
        async for entry in audit.iterate(platform.db, where):
            yield audit.json_line(entry)

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="audit.jsonl"'},
    )


@router.get("/audit/verify", summary="Check the hash chain; the first broken entry if any")
async def get_audit_verify(platform: PlatformDep) -> dict[str, Any]:
    verdict = await audit.verify(platform.db)
    return {
        "ok": verdict.ok,
        "checked": verdict.checked,
        "broken_id": verdict.broken_id,
        "problem": verdict.problem,
        "last_hash": verdict.last_hash,
    }
