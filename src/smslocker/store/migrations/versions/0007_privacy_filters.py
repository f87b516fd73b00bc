"""privacy and inbound filters: sealed bodies, held messages, filter rules

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:45:00

``inbound_filters`` holds the operator's allow/deny/hold rules (smslocker.screening);
``messages`` gains ``sealed`` (the body encrypted at rest, smslocker.privacy), ``held``
and ``held_reason`` (kept out of every inbox until an operator releases it), and a
partial index on the held rows only, so that ingest pays nothing for the others.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smslocker.store.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_UTC = smslocker.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbound_filters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=True),
        sa.Column("field", sa.String(length=10), nullable=False),
        sa.Column("match", sa.String(length=10), nullable=False),
        sa.Column("pattern", sa.String(length=500), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_filters")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("held", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("held_reason", sa.String(length=200), nullable=True))
    # Outside the batch: SQLite's batch mode would rebuild the table for an index.
    op.create_index(
        "ix_messages_held",
        "messages",
        ["id"],
        unique=False,
        sqlite_where=sa.text("held"),
        postgresql_where=sa.text("held"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_messages_held",
        table_name="messages",
        sqlite_where=sa.text("held"),
        postgresql_where=sa.text("held"),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("held_reason")
        batch_op.drop_column("held")
        batch_op.drop_column("sealed")
    op.drop_table("inbound_filters")
