"""account passwords and session tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:20:00

Passwords an operator sets for an account (``account_passwords``), and the two columns
that make a row of ``api_keys`` a session token of a password sign-in: ``kind`` ("key"
for every existing row) and ``expires_at``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smslocker.store.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_UTC = smslocker.store.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "account_passwords",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("set_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_passwords_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_account_passwords")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=10), server_default="key", nullable=False)
        )
        batch_op.add_column(sa.Column("expires_at", _UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("kind")
    op.drop_table("account_passwords")
