"""The migrations build exactly the schema models.py describes, on both databases."""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from smslocker.store.models import Base


async def test_migrated_schema_equals_the_models(database: Any) -> None:
    def differences(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        with warnings.catch_warnings():
            # SQLAlchemy cannot reflect uq_prices_key (an index on expressions) and says so.
            warnings.filterwarnings("ignore", message=".*expression-based index .?uq_prices_key")
            return list(compare_metadata(context, Base.metadata))

    async with database.read() as connection:
        assert await connection.run_sync(differences) == []
