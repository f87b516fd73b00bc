"""stored_concats: the marks of stored long messages

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:40:00

A gateway that starts again after a crash reads the marks of the long messages stored
lately, so that the parts the SMSC redelivers (their acknowledgement lost in the crash)
are acknowledged at once instead of waiting, alone, for siblings that never come again
(smslocker.routing.concat_marks).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smslocker.store.types

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_UTC = smslocker.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "stored_concats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("fingerprints", sa.LargeBinary(), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("stored_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_concats")),
    )
    op.create_index(
        "ix_stored_concats_connector", "stored_concats", ["connector", "stored_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_stored_concats_connector", table_name="stored_concats")
    op.drop_table("stored_concats")
