"""guard: account standing, alerts, rental reports, the audit trail

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smslocker.store.types

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

_UTC = smslocker.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "guard_account_states",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("last_action_at", _UTC, nullable=True),
        sa.Column("slow_until", _UTC, nullable=True),
        sa.Column("verification_required", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_guard_account_states_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_guard_account_states")),
    )
    op.create_table(
        "guard_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raised_at", _UTC, nullable=False),
        sa.Column("rule", sa.String(length=50), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("evidence", smslocker.store.types.JSONText(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guard_alerts")),
    )
    with op.batch_alter_table("guard_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_guard_alerts_account", ["account_id", "id"], unique=False)

    op.create_table(
        "rental_reports",
        sa.Column("rental_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("number_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=True),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.PrimaryKeyConstraint("rental_id", name=op.f("pk_rental_reports")),
    )
    with op.batch_alter_table("rental_reports", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rental_reports_account", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rental_reports_number_id"), ["number_id"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("details", smslocker.store.types.JSONText(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action", ["action", "id"], unique=False)
        batch_op.create_index("ix_audit_log_actor", ["actor", "id"], unique=False)
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_at")
        batch_op.drop_index("ix_audit_log_actor")
        batch_op.drop_index("ix_audit_log_action")
    op.drop_table("audit_log")
    with op.batch_alter_table("rental_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rental_reports_number_id"))
        batch_op.drop_index("ix_rental_reports_account")
    op.drop_table("rental_reports")
    with op.batch_alter_table("guard_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_guard_alerts_account")
    op.drop_table("guard_alerts")
    op.drop_table("guard_account_states")
