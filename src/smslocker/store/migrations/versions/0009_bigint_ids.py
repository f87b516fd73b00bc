"""BIGINT ids for the tables that grow with traffic (PostgreSQL)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 18:20:00

messages, stored_concats, audit_log, webhook_attempts, ledger and probes had serial
``integer`` ids on PostgreSQL, which end at 2,147,483,647: under two days of ingest at
the benchmark's rate, about eight months at 100 messages a second, and then every insert
fails. Their ids (and the sequences behind them) become BIGINT. On SQLite nothing
changes: an INTEGER PRIMARY KEY there is already the 64-bit rowid.

Changing a column's type rewrites its table under an exclusive lock: on a large
installation, run ``smslocker db upgrade`` in a maintenance window.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("messages", "stored_concats", "audit_log", "webhook_attempts", "ledger", "probes")


def upgrade() -> None:
    _retype(sa.BigInteger(), "bigint")


def downgrade() -> None:
    _retype(sa.Integer(), "integer")


def _retype(type_: sa.types.TypeEngine[int], sequence_type: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table in TABLES:
        op.alter_column(table, "id", type_=type_, existing_nullable=False)
        sequence = bind.exec_driver_sql(f"SELECT pg_get_serial_sequence('{table}', 'id')").scalar()
        if sequence is not None:  # audit_log's ids are chained, not drawn from a sequence
            op.execute(f"ALTER SEQUENCE {sequence} AS {sequence_type}")
