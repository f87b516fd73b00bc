"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, Text
from sqlalchemy.types import TypeDecorator

#: The id of a table that grows with traffic (messages, their marks, audit entries, webhook
#: attempts, ledger rows, probes): BIGINT on PostgreSQL, where a serial ``integer`` ends
#: at 2,147,483,647 rows (under two days at the ingest benchmark's rate; about eight
#: months at 100 messages a second). On SQLite it stays INTEGER: an ``INTEGER PRIMARY
#: KEY`` is the 64-bit rowid itself, a ``BIGINT PRIMARY KEY`` would be a second copy.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: The largest id of an ``integer`` column (accounts, numbers, filters, alerts, ...): what
#: an API parameter naming one accepts (beyond it PostgreSQL's driver refuses the value).
MAX_ID = 2**31 - 1
#: The largest id of a :data:`BigId` column (messages, audit entries, ...).
MAX_BIG_ID = 2**63 - 1


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in Python; ``timestamptz`` on PostgreSQL, naive UTC on SQLite.

    SQLite has no time zones: storing naive UTC keeps its text timestamps comparable
    with ``<`` (the routing window query relies on it). A naive datetime handed in is a
    bug in the caller, so it raises instead of being guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: smslocker stores aware UTC times")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONText(TypeDecorator[Any]):
    """JSON kept as text: the same bytes on both databases, no JSONB operators needed."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(value)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """A public id: ``prefix`` + 26 Crockford base32 characters (ULID layout).

    48 bits of milliseconds then 80 random bits: ids sort by creation time and cannot
    be guessed, so an id seen in one account says nothing about another's.
    """
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return prefix + "".join(reversed(chars))


def utcnow() -> datetime:
    return datetime.now(UTC)
