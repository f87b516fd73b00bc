"""gateway_processes: the live gateway processes, so connectors are shared out among them

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 19:40:00

Each gateway process renews its row with its connector leases. A process takes at most
its fair share of the connectors (their number over the live processes, rounded up), so
a second gateway process takes half the binds instead of waiting as a standby
(smslocker.gateway.manager).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smslocker.store.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UTC = smslocker.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateway_processes",
        sa.Column("owner_id", sa.String(length=100), nullable=False),
        sa.Column("started_at", _UTC, nullable=False),
        sa.Column("alive_until", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("owner_id", name=op.f("pk_gateway_processes")),
    )


def downgrade() -> None:
    op.drop_table("gateway_processes")
