"""Password sign-in: passwords set by the operator, and the session tokens they buy.

A renter without an API key signs in with the account's name and the password the
operator set (:func:`set_password`); :func:`sign_in` answers with a session token that
works exactly like a user API key until it expires (``[sessions] ttl_s``, 12 h) or is
revoked (:func:`end_session`, or a new or removed password, which ends them all).

A session token is a row of ``api_keys`` with ``kind`` "session", role user and an
``expires_at``: same ``slk_<id>_<secret>`` shape, same SHA-256 storage, same lookup
(:func:`~.keys.authenticate`, which checks the expiry), so every route, the WebSocket
and the guard's per-key limits take it with no change. A session never has the admin
role, whatever keys the account has: the operator's console stays behind admin keys.

Wrong name and wrong password are one error, :class:`SignInFailed`, with one message,
and cost the same time (a name with no password still runs a full scrypt check), so
the answer does not tell which names exist.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.guard import audit
from smslocker.store.db import Database
from smslocker.store.models import Account, AccountPassword, ApiKey

from .keys import KeyError_, KeyNotFound, Role, _hash, _new_key
from .passwords import burn_a_check, check_strength, hash_password, verify_password

SESSION = "session"
SIGN_IN_FAILED = "the account name or the password is wrong"

PASSWORD_SET = "account.password_set"
PASSWORD_REMOVED = "account.password_removed"
SESSION_STARTED = "session.started"
SESSION_ENDED = "session.ended"


class SignInFailed(KeyError_):
    """No such account, no password set, or a wrong password: one error for all three."""

    def __init__(self) -> None:
        super().__init__(SIGN_IN_FAILED)


class AccountSuspended(KeyError_):
    """The right password for a suspended account: no session (its keys get 403 too)."""


class NotASession(KeyError_):
    """:func:`end_session` on an API key, or on a session already ended."""


@dataclass(frozen=True, slots=True)
class Session:
    """A new session: ``token`` is shown in this answer only (only its hash is kept)."""

    token: str
    key_id: str
    account_id: int
    account_name: str
    role: Role
    expires_at: datetime


# --------------------------------------------------------------------------- passwords


async def set_password(db: Database, account_id: int, password: str, now: datetime) -> None:
    """Set (or replace) the password of ``account_id``; ends the account's sessions.

    Raises :class:`~.passwords.WeakPassword` (too short or too long) and
    :class:`~.keys.KeyNotFound` (no such account).
    """
    check_strength(password)
    stored = await asyncio.to_thread(hash_password, password)
    async with db.write() as connection:
        exists = await connection.scalar(select(Account.id).where(Account.id == account_id))
        if exists is None:
            raise KeyNotFound(f"no account {account_id}")
        await connection.execute(
            delete(AccountPassword).where(AccountPassword.account_id == account_id)
        )
        await connection.execute(
            insert(AccountPassword).values(account_id=account_id, password_hash=stored, set_at=now)
        )
        ended = await _end_sessions_of(connection, account_id, now)
        await audit.append_async(
            connection,
            PASSWORD_SET,
            at=now,
            account_id=account_id,
            target=f"account:{account_id}",
            details={"sessions_ended": ended},
        )


async def remove_password(db: Database, account_id: int, now: datetime) -> bool:
    """Remove the password of ``account_id`` (False when it had none); ends its sessions."""
    async with db.write() as connection:
        result = await connection.execute(
            delete(AccountPassword).where(AccountPassword.account_id == account_id)
        )
        if result.rowcount == 0:
            return False
        ended = await _end_sessions_of(connection, account_id, now)
        await audit.append_async(
            connection,
            PASSWORD_REMOVED,
            at=now,
            account_id=account_id,
            target=f"account:{account_id}",
            details={"sessions_ended": ended},
        )
    return True


async def has_password(db: Database, account_id: int) -> bool:
    async with db.read() as connection:
        found = await connection.scalar(
            select(AccountPassword.account_id).where(AccountPassword.account_id == account_id)
        )
    return found is not None


async def _end_sessions_of(connection: AsyncConnection, account_id: int, now: datetime) -> int:
    result = await connection.execute(
        update(ApiKey)
        .where(
            ApiKey.account_id == account_id,
            ApiKey.kind == SESSION,
            ApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return int(result.rowcount)


# --------------------------------------------------------------------------- sessions


async def sign_in(
    db: Database, name: str, password: str, now: datetime, *, ttl: timedelta
) -> Session:
    """A session for account ``name`` if ``password`` is its password.

    Raises :class:`SignInFailed` (same message whatever was wrong) and
    :class:`AccountSuspended` (only after the right password: it tells nothing to a
    guesser). Expired session rows of the account are deleted on the way.
    """
    async with db.read() as connection:
        row = (
            await connection.execute(
                select(Account.id, Account.name, Account.status, AccountPassword.password_hash)
                .join(AccountPassword, AccountPassword.account_id == Account.id)
                .where(Account.name == name)
            )
        ).first()
    if row is None:
        await asyncio.to_thread(burn_a_check, password)
        raise SignInFailed()
    if not await asyncio.to_thread(verify_password, password, row.password_hash):
        raise SignInFailed()
    if row.status == "suspended":
        raise AccountSuspended("this account is suspended")
    key_id, token = _new_key()
    expires_at = now + ttl
    async with db.write() as connection:
        await connection.execute(
            delete(ApiKey).where(
                ApiKey.account_id == row.id, ApiKey.kind == SESSION, ApiKey.expires_at <= now
            )
        )
        await connection.execute(
            insert(ApiKey).values(
                id=key_id,
                account_id=row.id,
                role=Role.USER.value,
                label="password sign-in",
                key_hash=_hash(token),
                created_at=now,
                kind=SESSION,
                expires_at=expires_at,
            )
        )
        await audit.append_async(
            connection,
            SESSION_STARTED,
            at=now,
            account_id=row.id,
            target=f"key:{key_id}",
            details={"expires_at": expires_at.isoformat()},
        )
    return Session(token, key_id, row.id, row.name, Role.USER, expires_at)


async def end_session(db: Database, key_id: str, now: datetime) -> None:
    """Revoke the session token ``key_id``; :class:`NotASession` for an API key's id (a
    sign-out must not revoke the key a script runs on) or an ended session."""
    async with db.write() as connection:
        result = await connection.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.kind == SESSION, ApiKey.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        if result.rowcount == 0:
            raise NotASession(f"{key_id} is not an active session")
        account_id = await connection.scalar(select(ApiKey.account_id).where(ApiKey.id == key_id))
        await audit.append_async(
            connection, SESSION_ENDED, at=now, account_id=account_id, target=f"key:{key_id}"
        )


__all__ = [
    "SIGN_IN_FAILED",
    "AccountSuspended",
    "NotASession",
    "Session",
    "SignInFailed",
    "end_session",
    "has_password",
    "remove_password",
    "set_password",
    "sign_in",
]
