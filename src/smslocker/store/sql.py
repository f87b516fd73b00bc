"""SQL that differs between SQLite and PostgreSQL, behind one spelling."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def upsert(connection: Connection | AsyncConnection, table: Any) -> Any:
    """An ``INSERT`` into ``table`` that supports ``.on_conflict_do_update`` and
    ``.on_conflict_do_nothing`` on this connection's database (both spell them alike)."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


__all__ = ["upsert"]
