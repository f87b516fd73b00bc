"""Who is calling: ``Authorization: Bearer <key>``, or ``?access_token=`` for browsers.

Browsers cannot set headers on a WebSocket or an EventSource, hence the query
parameter; the access log never prints query strings for that reason (see
:mod:`smslocker.api.app`).

The token is an API key or the session token of a password sign-in
(:mod:`smslocker.accounts.sessions`): both resolve here, through the same lookup, and a
session token past its ``expires_at`` on the platform's clock is refused like a
revoked key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from smslocker.accounts import Principal, authenticate

from .deps import platform_of
from .problems import Problem

_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="smslocker"'}


def bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return None
    return connection.query_params.get("access_token") or None


async def principal_of(connection: HTTPConnection) -> Principal:
    """The caller's principal; a missing, wrong or revoked key is a 401 problem."""
    cached = getattr(connection.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    token = bearer_token(connection)
    if token is None:
        raise Problem(401, "unauthorized", "an API key is required", headers=_UNAUTHORIZED)
    platform = platform_of(connection)
    principal = await authenticate(platform.db, token, platform.now())
    if principal is None:
        raise Problem(401, "unauthorized", "the API key is not valid", headers=_UNAUTHORIZED)
    if principal.account_status == "suspended":
        raise Problem(403, "account-suspended", "this account is suspended")
    connection.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    return await principal_of(request)


async def admin_principal(request: Request) -> Principal:
    principal = await principal_of(request)
    if not principal.is_admin:
        raise Problem(403, "forbidden", "this needs an admin key")
    return principal


User = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
