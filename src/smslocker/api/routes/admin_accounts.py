"""Admin: accounts (list, create, show, tier and status), credits with their ledger, and
API keys (create — the key is shown once —, list, revoke). Included in :mod:`.admin`'s
router, which makes every route admin-only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from smslocker.accounts import ApiKeyView, Role, create_key, list_keys, revoke_key
from smslocker.accounts.passwords import MAX_LENGTH as MAX_PASSWORD
from smslocker.accounts.passwords import MIN_LENGTH as MIN_PASSWORD
from smslocker.accounts.passwords import WeakPassword
from smslocker.accounts.sessions import remove_password, set_password
from smslocker.platform import Platform
from smslocker.rentals import InvalidRequest, adjust, create_account, ledger_of, top_up
from smslocker.rentals.accounts import (
    AccountView,
    get_account,
    list_accounts,
    update_account,
)
from smslocker.rentals.credits import LedgerRow
from smslocker.store.types import MAX_ID

from .. import guard as guard_hooks
from ..deps import PlatformDep
from ..problems import Problem
from ..views import iso, problems

router = APIRouter()

#: Credits are whole numbers; this bound keeps them exact in any JSON reader.
MAX_CREDITS = 2**53 - 1
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"

AccountId = Annotated[int, Path(ge=1, le=MAX_ID)]


def account_json(account: AccountView) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "balance": account.balance,
        "tier": account.tier,
        "status": account.status,
        "created_at": iso(account.created_at),
    }


def ledger_json(row: LedgerRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "rental_id": row.rental_id,
        "amount": row.amount,
        "reason": row.reason,
        "balance_after": row.balance_after,
        "created_at": iso(row.created_at),
    }


def key_json(key: ApiKeyView) -> dict[str, Any]:
    return {
        "id": key.id,
        "account_id": key.account_id,
        "role": key.role,
        "label": key.label,
        "created_at": iso(key.created_at),
        "revoked_at": iso(key.revoked_at),
        "last_used_at": iso(key.last_used_at),
    }


# --------------------------------------------------------------------------- accounts


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=PRINTABLE)
    balance: int = Field(0, ge=0, le=MAX_CREDITS, description="opening credits")
    tier: str = Field("unverified", min_length=1, max_length=20, pattern=PRINTABLE)


class AccountPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: str | None = Field(None, min_length=1, max_length=20, pattern=PRINTABLE)
    status: Literal["active", "suspended"] | None = Field(
        None, description="a suspended account's keys get 403"
    )


class CreditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(
        ge=-MAX_CREDITS,
        le=MAX_CREDITS,
        description="credits: a top-up must be positive; an adjustment is either sign",
    )


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role = Role.USER
    label: str | None = Field(None, min_length=1, max_length=100, pattern=PRINTABLE)


@router.get("/accounts", summary="Accounts, by id (page with `after`)")
async def get_accounts(
    platform: PlatformDep,
    status: Annotated[Literal["active", "suspended"] | None, Query()] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    accounts = await list_accounts(platform.db, status=status, after_id=after, limit=limit)
    return {
        "accounts": [account_json(account) for account in accounts],
        "next_after": accounts[-1].id if len(accounts) == limit else None,
    }


@router.post(
    "/accounts", status_code=201, summary="Create an account", responses=problems(409, 422)
)
async def post_account(platform: PlatformDep, body: AccountIn) -> dict[str, Any]:
    try:
        account_id = await create_account(
            platform.db, body.name, platform.now(), balance=body.balance, tier=body.tier
        )
    except InvalidRequest as error:  # the body is valid: only the name can be taken
        raise Problem(409, "account-exists", str(error)) from None
    return account_json(await get_account(platform.db, account_id))


@router.get(
    "/accounts/{account_id}",
    summary="One account, with its latest ledger rows and its keys",
    responses=problems(404),
)
async def get_one_account(
    platform: PlatformDep,
    account_id: AccountId,
    ledger: Annotated[int, Query(ge=0, le=1000, description="ledger rows")] = 20,
) -> dict[str, Any]:
    account = await get_account(platform.db, account_id)
    rows = await ledger_of(platform.db, account_id, limit=ledger) if ledger else []
    keys = await list_keys(platform.db, account_id)
    return {
        **account_json(account),
        "ledger": [ledger_json(row) for row in rows],
        "keys": [key_json(key) for key in keys],
    }


@router.patch(
    "/accounts/{account_id}",
    summary="Set an account's tier or status",
    responses=problems(404, 422),
)
async def patch_account(
    platform: PlatformDep, account_id: AccountId, body: AccountPatch
) -> dict[str, Any]:
    account = await update_account(platform.db, account_id, tier=body.tier, status=body.status)
    await guard_hooks.account_patched(platform, account_id, body.model_dump(exclude_none=True))
    return account_json(account)


@router.get(
    "/accounts/{account_id}/ledger",
    summary="An account's ledger, newest first",
    responses=problems(404),
)
async def get_ledger(
    platform: PlatformDep,
    account_id: AccountId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    account = await get_account(platform.db, account_id)
    rows = await ledger_of(platform.db, account_id, limit=limit)
    return {"balance": account.balance, "ledger": [ledger_json(row) for row in rows]}


@router.post(
    "/accounts/{account_id}/top-up",
    summary="Add credits (a ledger row `top_up`)",
    responses=problems(404, 422),
)
async def post_top_up(
    platform: PlatformDep, account_id: AccountId, body: CreditIn
) -> dict[str, Any]:
    balance = await top_up(platform.db, account_id, body.amount, platform.now())
    return await _after_credit(platform, account_id, balance)


@router.post(
    "/accounts/{account_id}/adjust",
    summary="Correct a balance either way (a ledger row `adjust`; never below zero)",
    responses=problems(402, 404, 422),
)
async def post_adjust(
    platform: PlatformDep, account_id: AccountId, body: CreditIn
) -> dict[str, Any]:
    balance = await adjust(platform.db, account_id, body.amount, platform.now())
    return await _after_credit(platform, account_id, balance)


async def _after_credit(platform: Platform, account_id: int, balance: int) -> dict[str, Any]:
    (entry,) = await ledger_of(platform.db, account_id, limit=1)
    return {"account_id": account_id, "balance": balance, "entry": ledger_json(entry)}


# --------------------------------------------------------------------------- keys


@router.post(
    "/accounts/{account_id}/keys",
    status_code=201,
    summary="Create an API key: `key` is in this answer and never again",
    responses=problems(404, 422),
)
async def post_key(platform: PlatformDep, account_id: AccountId, body: KeyIn) -> dict[str, Any]:
    await get_account(platform.db, account_id)
    view, key = await create_key(
        platform.db, account_id, body.role, platform.now(), label=body.label
    )
    return {**key_json(view), "key": key}


@router.get(
    "/accounts/{account_id}/keys",
    summary="An account's keys (never the keys themselves)",
    responses=problems(404),
)
async def get_keys(platform: PlatformDep, account_id: AccountId) -> dict[str, Any]:
    await get_account(platform.db, account_id)
    return {"keys": [key_json(key) for key in await list_keys(platform.db, account_id)]}


@router.delete(
    "/keys/{key_id}",
    status_code=204,
    summary="Revoke a key (it stops working at once)",
    responses=problems(404),
)
async def delete_key(
    platform: PlatformDep,
    key_id: Annotated[str, Path(pattern=r"^[a-z0-9]{1,16}$", description="the key's id")],
) -> Response:
    await revoke_key(platform.db, key_id, platform.now())
    return Response(status_code=204)


# --------------------------------------------------------------------------- passwords


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: str = Field(
        min_length=MIN_PASSWORD,
        max_length=MAX_PASSWORD,
        description=f"at least {MIN_PASSWORD} characters; stored as a scrypt hash",
    )

    @field_validator("password")
    @classmethod
    def _encodable(cls, value: str) -> str:
        # JSON can carry a lone surrogate ("\ud800"), which no hash can take.
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("not valid Unicode text") from None
        return value


@router.put(
    "/accounts/{account_id}/password",
    status_code=204,
    summary="Set the account's password (for `POST /api/v1/session`); ends its sessions",
    responses=problems(404, 422),
)
async def put_password(platform: PlatformDep, account_id: AccountId, body: PasswordIn) -> Response:
    await get_account(platform.db, account_id)
    try:
        await set_password(platform.db, account_id, body.password, platform.now())
    except WeakPassword as error:  # the length after Unicode normalisation
        raise Problem(422, "weak-password", str(error)) from None
    return Response(status_code=204)


@router.delete(
    "/accounts/{account_id}/password",
    status_code=204,
    summary="Remove the account's password: no more sign-in, its sessions end",
    responses=problems(404),
)
async def delete_password(platform: PlatformDep, account_id: AccountId) -> Response:
    await get_account(platform.db, account_id)
    if not await remove_password(platform.db, account_id, platform.now()):
        raise Problem(404, "no-password", f"account {account_id} has no password")
    return Response(status_code=204)
