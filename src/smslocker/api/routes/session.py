"""Password sign-in and "who am I": ``POST``/``DELETE /api/v1/session``, ``GET /api/v1/account``.

``POST /api/v1/session`` trades an account's name and the password its operator set
(``PUT /api/v1/admin/accounts/{id}/password``) for a session token, used from then on
exactly as a user API key (``Authorization: Bearer``, ``?access_token=``). A wrong name
and a wrong password get the same 401 problem, byte for byte.

Guessing is slowed by two token buckets, one per client IP and one per account name
(``[sessions] attempts_burst`` at once, then ``attempts_per_minute``), in the guard's
counters (this process's, or Redis shared by all API processes); over either, 429 with
``Retry-After``. They are spent before any database or scrypt work, so a flood costs
little. They count every attempt, not only failures: a person signs in rarely, and a
bucket that only failures spend would need a read before the check. The cost is that a
guesser can hold one account's bucket empty; the account's API keys still work, and so
does the operator.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from redis.exceptions import RedisError

from smslocker.accounts import sessions
from smslocker.accounts.passwords import MAX_LENGTH
from smslocker.guard import limits
from smslocker.guard.counters import Counters, MemoryCounters
from smslocker.log import get_logger
from smslocker.platform import Platform
from smslocker.rentals.accounts import get_account

from ..auth import User
from ..deps import PlatformDep
from ..guard import client_ip
from ..problems import Problem
from ..views import iso, problems

log = get_logger(__name__)

router = APIRouter(tags=["session"])

V1 = "/api/v1"
#: The limit a 429 of this route names.
SIGN_IN_LIMIT = "sign-in"
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="smslocker"'}


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field(
        min_length=1, max_length=100, pattern=PRINTABLE, description="the account's name"
    )
    password: str = Field(min_length=1, max_length=MAX_LENGTH)

    @field_validator("account", "password")
    @classmethod
    def _encodable(cls, value: str) -> str:
        # JSON can carry a lone surrogate ("\ud800"): no database takes it, no hash either.
        try:
            value.encode()
        except UnicodeEncodeError:
            raise ValueError("not valid Unicode text") from None
        return value


class SessionOut(BaseModel):
    token: str = Field(description="shown in this answer only; use it as a user API key")
    expires_at: str
    role: str
    account_id: int
    account: str


class AccountOut(BaseModel):
    id: int
    name: str
    balance: int
    tier: str
    role: str
    kind: str = Field(description='"key" (an API key) or "session" (a password sign-in)')
    expires_at: str | None = Field(description="a session token's end; null for a key")


@router.post(
    V1 + "/session",
    status_code=201,
    response_model=SessionOut,
    summary="Sign in with an account's name and password: a session token",
    responses=problems(401, 403, 422, 429),
)
async def post_session(platform: PlatformDep, body: SessionIn, request: Request) -> dict[str, Any]:
    """A token that works as a user API key of the account until ``expires_at``
    (``[sessions] ttl_s``, 12 hours by default). Never an admin token."""
    await _spend_attempt(platform, request, body.account)
    try:
        session = await sessions.sign_in(
            platform.db,
            body.account,
            body.password,
            platform.now(),
            ttl=timedelta(seconds=platform.settings.sessions.ttl_s),
        )
    except sessions.SignInFailed as error:
        raise Problem(401, "sign-in-failed", str(error), headers=_UNAUTHORIZED) from None
    except sessions.AccountSuspended as error:
        raise Problem(403, "account-suspended", str(error)) from None
    return {
        "token": session.token,
        "expires_at": iso(session.expires_at),
        "role": session.role.value,
        "account_id": session.account_id,
        "account": session.account_name,
    }


@router.delete(
    V1 + "/session",
    status_code=204,
    summary="Sign out: the caller's session token stops working",
    responses=problems(401, 409),
)
async def delete_session(platform: PlatformDep, principal: User) -> Response:
    """Revoke the session token the call is made with; an API key is refused (409):
    keys are revoked by the operator, not by signing out."""
    if principal.kind != sessions.SESSION:
        raise Problem(409, "not-a-session", "this is an API key, not a session token")
    try:
        await sessions.end_session(platform.db, principal.key_id, platform.now())
    except sessions.NotASession as error:  # revoked between the auth and here
        raise Problem(401, "unauthorized", str(error), headers=_UNAUTHORIZED) from None
    return Response(status_code=204)


@router.get(
    V1 + "/account",
    response_model=AccountOut,
    summary="The caller's account: name, balance, tier, and the caller's role",
    responses=problems(401, 403),
)
async def get_own_account(platform: PlatformDep, principal: User) -> dict[str, Any]:
    account = await get_account(platform.db, principal.account_id)
    return {
        "id": account.id,
        "name": account.name,
        "balance": account.balance,
        "tier": account.tier,
        "role": principal.role.value,
        "kind": principal.kind,
        "expires_at": iso(principal.expires_at),
    }


async def _spend_attempt(platform: Platform, request: Request, account: str) -> None:
    """Take a token of the client IP's and of the account name's sign-in buckets; raise
    :class:`~smslocker.guard.limits.RateLimited` (answered 429) when one is empty."""
    settings = platform.settings.sessions
    rate = settings.attempts_per_minute / 60
    guard_state = getattr(request.app.state, "guard", None)
    ip = client_ip(request.scope, platform.settings.guard.trust_forwarded_for)
    now = platform.now().timestamp()
    counters = guard_state.counters if guard_state is not None else _own_counters(request)
    try:
        for bucket in (f"sign-in:ip:{ip}", f"sign-in:account:{account.casefold()}"):
            taken = await counters.take(bucket, rate, settings.attempts_burst, now)
            if not taken.allowed:
                raise limits.RateLimited(
                    SIGN_IN_LIMIT, taken.retry_after, "too many sign-in attempts; wait and retry"
                )
    except RedisError as error:  # fail open, as the guard's middleware does
        log.error("session.counters_failed", error=repr(error))


def _own_counters(request: Request) -> Counters:
    """Counters of this app when the guard is not installed (an app built by hand)."""
    counters = getattr(request.app.state, "sign_in_counters", None)
    if counters is None:
        counters = request.app.state.sign_in_counters = MemoryCounters()
    assert isinstance(counters, MemoryCounters)
    return counters
