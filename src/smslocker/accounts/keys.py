"""API keys.

A key is ``slk_<id>_<secret>``: ``id`` (12 characters) finds the row without scanning,
``secret`` is 32 random bytes (base32). Only SHA-256 of the whole key is stored: keys
are random with 256 bits of entropy, so a slow password hash would add nothing but
latency on every request. The comparison is constant time (``hmac.compare_digest``) so
timing does not tell how much of a guess was right. The key is returned once, by
:func:`create_key`, and never again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import insert, select, update

from smslocker.guard import audit
from smslocker.store.db import Database
from smslocker.store.models import Account, ApiKey
from smslocker.store.types import utcnow

PREFIX = "slk_"
_ID_CHARS = "abcdefghijkmnpqrstuvwxyz23456789"


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


class KeyError_(Exception):  # noqa: N801 - KeyError is a builtin
    """Base of this module's errors."""


class KeyNotFound(KeyError_):
    pass


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the account and role behind a valid key."""

    account_id: int
    account_name: str
    key_id: str
    role: Role
    account_status: str = "active"
    #: "key" (an API key) or "session" (a password sign-in's token, see :mod:`.sessions`).
    kind: str = "key"
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class ApiKeyView:
    id: str
    account_id: int
    role: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_key() -> tuple[str, str]:
    key_id = "".join(secrets.choice(_ID_CHARS) for _ in range(12))
    secret = base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()
    return key_id, f"{PREFIX}{key_id}_{secret}"


async def create_key(
    db: Database, account_id: int, role: Role, now: datetime, *, label: str | None = None
) -> tuple[ApiKeyView, str]:
    """Create a key for ``account_id``; returns its view and the key itself (shown once)."""
    key_id, key = _new_key()
    async with db.write() as connection:
        exists = await connection.scalar(select(Account.id).where(Account.id == account_id))
        if exists is None:
            raise KeyNotFound(f"no account {account_id}")
        await connection.execute(
            insert(ApiKey).values(
                id=key_id,
                account_id=account_id,
                role=role.value,
                label=label,
                key_hash=_hash(key),
                created_at=now,
            )
        )
        await audit.append_async(
            connection,
            audit.KEY_CREATED,
            at=now,
            account_id=account_id,
            target=f"key:{key_id}",
            details={"role": role.value, "label": label},
        )
    view = ApiKeyView(key_id, account_id, role.value, label, now, None, None)
    return view, key


def parse_key_id(key: str) -> str | None:
    if not key.startswith(PREFIX):
        return None
    key_id, _, secret = key[len(PREFIX) :].partition("_")
    if len(key_id) != 12 or not secret:
        return None
    return key_id


async def authenticate(db: Database, key: str, now: datetime | None = None) -> Principal | None:
    """The principal behind ``key``, or None for an unknown, wrong, revoked or (a session
    token at or past its ``expires_at``, on ``now``: the platform's clock) expired key."""
    key_id = parse_key_id(key)
    if key_id is None:
        return None
    async with db.read() as connection:
        row = (
            await connection.execute(
                select(
                    ApiKey.key_hash,
                    ApiKey.role,
                    ApiKey.revoked_at,
                    ApiKey.kind,
                    ApiKey.expires_at,
                    Account.id,
                    Account.name,
                    Account.status,
                )
                .join(Account, Account.id == ApiKey.account_id)
                .where(ApiKey.id == key_id)
            )
        ).first()
    if row is None:
        # Same work as a found row, so timing does not reveal which ids exist.
        hmac.compare_digest(_hash(key), _hash(""))
        return None
    if not hmac.compare_digest(row.key_hash, _hash(key)) or row.revoked_at is not None:
        return None
    if row.expires_at is not None and (now or utcnow()) >= row.expires_at:
        return None
    return Principal(row.id, row.name, key_id, Role(row.role), row.status, row.kind, row.expires_at)


async def revoke_key(
    db: Database, key_id: str, now: datetime, *, account_id: int | None = None
) -> None:
    """Revoke a key (of ``account_id`` when given: another account's key is not found)."""
    condition = [ApiKey.id == key_id, ApiKey.revoked_at.is_(None)]
    if account_id is not None:
        condition.append(ApiKey.account_id == account_id)
    async with db.write() as connection:
        result = await connection.execute(update(ApiKey).where(*condition).values(revoked_at=now))
        if result.rowcount == 0:
            raise KeyNotFound(f"no active key {key_id}")
        await audit.append_async(
            connection, audit.KEY_REVOKED, at=now, account_id=account_id, target=f"key:{key_id}"
        )


async def list_keys(
    db: Database, account_id: int | None = None, *, kind: str | None = "key"
) -> list[ApiKeyView]:
    """Keys by creation time; only API keys unless ``kind`` says otherwise ("session" for
    the tokens of password sign-ins, None for both)."""
    query = select(
        ApiKey.id,
        ApiKey.account_id,
        ApiKey.role,
        ApiKey.label,
        ApiKey.created_at,
        ApiKey.revoked_at,
        ApiKey.last_used_at,
    ).order_by(ApiKey.created_at)
    if account_id is not None:
        query = query.where(ApiKey.account_id == account_id)
    if kind is not None:
        query = query.where(ApiKey.kind == kind)
    async with db.read() as connection:
        rows = (await connection.execute(query)).all()
    return [ApiKeyView(*row) for row in rows]
