"""a unique price key that treats NULL ("any") as one value; indexes for carrier picks
and pending probes

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.create_index(
            "uq_prices_key",
            [
                sa.func.coalesce(sa.column("service"), ""),
                sa.func.coalesce(sa.column("country"), ""),
            ],
            unique=True,
        )
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.create_index("ix_probes_pending", ["outcome", "deadline"], unique=False)
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_numbers_pick_carrier", ["state", "carrier", "last_used_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_numbers_pick_carrier")
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.drop_index("ix_probes_pending")
    with op.batch_alter_table("prices", schema=None) as batch_op:
        batch_op.drop_index("uq_prices_key")
