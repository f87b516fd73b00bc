"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-12-01 23:10:02.670376
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import smslocker.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedup_key", sa.String(length=32), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("binary", sa.LargeBinary(), nullable=True),
        sa.Column("data_coding", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(length=20), nullable=False),
        sa.Column("parts", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("lossy", sa.Boolean(), nullable=False),
        sa.Column(
            "smsc_timestamp", smslocker.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("received_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("message_time", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rental_id", sa.String(length=32), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("codes", smslocker.store.types.JSONText(), nullable=True),
        sa.Column("service", sa.String(length=50), nullable=True),
        sa.Column(
            "body_purged_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_messages_account", ["account_id", "id"], unique=False)
        batch_op.create_index("ix_messages_dedup", ["dedup_key", "received_at"], unique=False)
        batch_op.create_index("ix_messages_received", ["received_at"], unique=False)
        batch_op.create_index("ix_messages_rental", ["rental_id", "id"], unique=False)

    op.create_table(
        "numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("carrier", sa.String(length=100), nullable=True),
        sa.Column("line_type", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=True),
        sa.Column("connector", sa.String(length=100), nullable=True),
        sa.Column("tags", smslocker.store.types.JSONText(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_since", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state_until", smslocker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("busy_until", smslocker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rentals_count", sa.Integer(), nullable=False),
        sa.Column("messages_count", sa.Integer(), nullable=False),
        sa.Column("probes_ok", sa.Integer(), nullable=False),
        sa.Column("probes_failed", sa.Integer(), nullable=False),
        sa.Column("probe_failure_streak", sa.Integer(), nullable=False),
        sa.Column("last_probe_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_probe_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_numbers")),
        sa.UniqueConstraint("e164", name=op.f("uq_numbers_e164")),
    )
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.create_index("ix_numbers_pick", ["state", "last_used_at"], unique=False)
        batch_op.create_index(
            "ix_numbers_pick_country", ["state", "country", "last_used_at"], unique=False
        )
        batch_op.create_index("ix_numbers_state_until", ["state", "state_until"], unique=False)

    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        sa.UniqueConstraint("service", "country", name="uq_prices_service_country"),
    )
    op.create_table(
        "sender_services",
        sa.Column("sender", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.PrimaryKeyConstraint("sender", name=op.f("pk_sender_services")),
    )
    op.create_table(
        "ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("rental_id", sa.String(length=32), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("created_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ledger_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger")),
    )
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_rental_id"), ["rental_id"], unique=False)

    op.create_table(
        "probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number_id", sa.Integer(), nullable=False),
        sa.Column("destination", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("connector", sa.String(length=100), nullable=True),
        sa.Column("sent_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("arrived_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["number_id"], ["numbers.id"], name=op.f("fk_probes_number_id_numbers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_probes")),
        sa.UniqueConstraint("token", name=op.f("uq_probes_token")),
    )
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_probes_number_id"), ["number_id"], unique=False)
        batch_op.create_index("ix_probes_open", ["destination", "outcome"], unique=False)

    op.create_table(
        "rentals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("number_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("window_end", smslocker.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("refunded", sa.BigInteger(), nullable=False),
        sa.Column("messages_count", sa.Integer(), nullable=False),
        sa.Column(
            "first_message_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_rentals_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["number_id"], ["numbers.id"], name=op.f("fk_rentals_number_id_numbers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rentals")),
    )
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.create_index("ix_rentals_account", ["account_id", "started_at"], unique=False)
        batch_op.create_index("ix_rentals_route", ["number", "started_at"], unique=False)
        batch_op.create_index("ix_rentals_sweep", ["status", "expires_at"], unique=False)

    op.create_table(
        "service_tags",
        sa.Column("number_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=50), nullable=False),
        sa.Column("last_used_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("failed_at", smslocker.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["number_id"], ["numbers.id"], name=op.f("fk_service_tags_number_id_numbers")
        ),
        sa.PrimaryKeyConstraint("number_id", "service", name=op.f("pk_service_tags")),
    )


def downgrade() -> None:
    op.drop_table("service_tags")
    with op.batch_alter_table("rentals", schema=None) as batch_op:
        batch_op.drop_index("ix_rentals_sweep")
        batch_op.drop_index("ix_rentals_route")
        batch_op.drop_index("ix_rentals_account")

    op.drop_table("rentals")
    with op.batch_alter_table("probes", schema=None) as batch_op:
        batch_op.drop_index("ix_probes_open")
        batch_op.drop_index(batch_op.f("ix_probes_number_id"))

    op.drop_table("probes")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_rental_id"))
        batch_op.drop_index(batch_op.f("ix_ledger_account_id"))

    op.drop_table("ledger")
    op.drop_table("sender_services")
    op.drop_table("prices")
    with op.batch_alter_table("numbers", schema=None) as batch_op:
        batch_op.drop_index("ix_numbers_state_until")
        batch_op.drop_index("ix_numbers_pick_country")
        batch_op.drop_index("ix_numbers_pick")

    op.drop_table("numbers")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_rental")
        batch_op.drop_index("ix_messages_received")
        batch_op.drop_index("ix_messages_dedup")
        batch_op.drop_index("ix_messages_account")

    op.drop_table("messages")
    op.drop_table("accounts")
