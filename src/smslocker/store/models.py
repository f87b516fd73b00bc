"""The schema. One class per table; the migrations in ``migrations/versions`` create it.

Conventions: times are aware UTC (:class:`~.types.UTCDateTime`); money is whole credits
(``int``); public ids of rentals are random strings (:func:`~.types.new_id`), other ids
are integers. States and reasons are short strings whose vocabularies live in the
domain modules (``pool.lifecycle``, ``rentals``), so the store knows nothing above it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import BigId, JSONText, UTCDateTime

# Named constraints, so migrations can refer to them on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    tier: Mapped[str] = mapped_column(String(20), default="unverified")
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerEntry(Base):
    """Every change of a balance, with the balance after it: the account's statement."""

    __tablename__ = "ledger"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    rental_id: Mapped[str | None] = mapped_column(String(32), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(20))
    balance_after: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Price(Base):
    """What a rental costs; ``None`` in service or country means "any"."""

    __tablename__ = "prices"
    __table_args__ = (UniqueConstraint("service", "country", name="uq_prices_service_country"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str | None] = mapped_column(String(2))
    price: Mapped[int] = mapped_column(BigInteger)


# uq_prices_service_country lets (NULL, "US") in twice: NULLs are distinct in a UNIQUE
# constraint on both databases. This index treats "any" as one value (migration 0002).
Index(
    "uq_prices_key",
    func.coalesce(Price.service, ""),
    func.coalesce(Price.country, ""),
    unique=True,
)


class Number(Base):
    __tablename__ = "numbers"
    __table_args__ = (
        # Selection: free numbers of a country, least recently used first.
        Index("ix_numbers_pick_country", "state", "country", "last_used_at"),
        Index("ix_numbers_pick", "state", "last_used_at"),
        # ... of a carrier (migration 0002): an unknown carrier is an empty range, not a scan.
        Index("ix_numbers_pick_carrier", "state", "carrier", "last_used_at"),
        Index("ix_numbers_state_until", "state", "state_until"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    carrier: Mapped[str | None] = mapped_column(String(100))
    line_type: Mapped[str] = mapped_column(String(20), default="unknown")
    source: Mapped[str | None] = mapped_column(String(20))
    connector: Mapped[str | None] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(JSONText, default=list)
    state: Mapped[str] = mapped_column(String(16), default="FREE")
    state_since: Mapped[datetime] = mapped_column(UTCDateTime)
    # When COOLDOWN or QUARANTINE ends (the sweeper frees the number then).
    state_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Not nullable so the selection index orders without NULL special cases.
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=EPOCH)
    # A number cannot be rented again before the last rental's window (end + grace) closes.
    busy_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rentals_count: Mapped[int] = mapped_column(Integer, default=0)
    messages_count: Mapped[int] = mapped_column(Integer, default=0)
    probes_ok: Mapped[int] = mapped_column(Integer, default=0)
    probes_failed: Mapped[int] = mapped_column(Integer, default=0)
    probe_failure_streak: Mapped[int] = mapped_column(Integer, default=0)
    last_probe_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_probe_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ServiceTag(Base):
    """(number, service) facts: last used for the service, and whether it fails for it."""

    __tablename__ = "service_tags"

    number_id: Mapped[int] = mapped_column(ForeignKey("numbers.id"), primary_key=True)
    service: Mapped[str] = mapped_column(String(50), primary_key=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failing: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Rental(Base):
    __tablename__ = "rentals"
    __table_args__ = (
        # Routing: the rental of a number whose window contains the message time.
        Index("ix_rentals_route", "number", "started_at"),
        Index("ix_rentals_account", "account_id", "started_at"),
        Index("ix_rentals_sweep", "status", "expires_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    number_id: Mapped[int] = mapped_column(ForeignKey("numbers.id"))
    number: Mapped[str] = mapped_column(String(20))
    service: Mapped[str | None] = mapped_column(String(50))
    country: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default="active")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    # Last instant a message can belong to this rental: (ended_at or expires_at) + grace.
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    price: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    messages_count: Mapped[int] = mapped_column(Integer, default=0)
    first_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Message(Base):
    """One inbound SMS after reassembly; ``rental_id`` NULL means unmatched."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_rental", "rental_id", "id"),
        Index("ix_messages_dedup", "dedup_key", "received_at"),
        Index("ix_messages_received", "received_at"),
        Index("ix_messages_account", "account_id", "id"),
        # Only held rows are indexed: ingest pays nothing for the others.
        Index(
            "ix_messages_held",
            "id",
            sqlite_where=text("held"),
            postgresql_where=text("held"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(32))
    connector: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(20))
    text: Mapped[str | None] = mapped_column(Text)
    binary: Mapped[bytes | None] = mapped_column(LargeBinary)
    data_coding: Mapped[int] = mapped_column(Integer)
    encoding: Mapped[str] = mapped_column(String(20))
    parts: Mapped[int] = mapped_column(Integer, default=1)
    complete: Mapped[bool] = mapped_column(Boolean, default=True)
    lossy: Mapped[bool] = mapped_column(Boolean, default=False)
    smsc_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The time routing used: the SMSC timestamp when sane, else received_at.
    message_time: Mapped[datetime] = mapped_column(UTCDateTime)
    rental_id: Mapped[str | None] = mapped_column(String(32))
    account_id: Mapped[int | None] = mapped_column(Integer)
    codes: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONText)
    service: Mapped[str | None] = mapped_column(String(50))
    body_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The body (text, binary, codes) sealed with the key ring when encryption at rest is
    # on (those three columns are then NULL); see smslocker.privacy (migration 0007).
    sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Kept out of every inbox by an inbound filter until an operator releases it.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    held_reason: Mapped[str | None] = mapped_column(String(200))


class StoredConcat(Base):
    """The mark of a long message ingest stored (:class:`smslocker.smpp.concat.ConcatMark`):
    what a gateway that starts again needs to acknowledge the redelivered parts of a message
    stored before a crash (see :mod:`smslocker.routing.concat_marks`).

    ``fingerprints`` are the parts' digests, sealed with the key ring like the bodies when
    encryption at rest is on (``sealed``): digests of short texts could be guessed back.
    Deleted with the bodies, by retention.
    """

    __tablename__ = "stored_concats"
    __table_args__ = (Index("ix_stored_concats_connector", "connector", "stored_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    connector: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))
    reference: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    fingerprints: Mapped[bytes] = mapped_column(LargeBinary)
    sealed: Mapped[bool] = mapped_column(Boolean)
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SenderService(Base):
    """The operator's own sender -> service entries (they win over the built-in table)."""

    __tablename__ = "sender_services"

    sender: Mapped[str] = mapped_column(String(64), primary_key=True)
    service: Mapped[str] = mapped_column(String(50))


class Probe(Base):
    """A health probe: a test SMS sent to a number, expected back before ``deadline``."""

    __tablename__ = "probes"
    __table_args__ = (
        Index("ix_probes_open", "destination", "outcome"),
        # fail_overdue_probes: pending probes past their deadline (migration 0002).
        Index("ix_probes_pending", "outcome", "deadline"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number_id: Mapped[int] = mapped_column(ForeignKey("numbers.id"), index=True)
    destination: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(32), unique=True)
    connector: Mapped[str | None] = mapped_column(String(100))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "pending", "ok", "failed", or "unsent" (the transmitter refused it: not the number's fault)
    outcome: Mapped[str] = mapped_column(String(10), default="pending")


# --------------------------------------------------------------------------- API (0003)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored (see :mod:`smslocker.accounts.keys`)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    role: Mapped[str] = mapped_column(String(10))
    label: Mapped[str | None] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A key is ``kind`` "key" (made by an operator, lives until revoked) or "session"
    # (made by a password sign-in, role user, dead after ``expires_at``).
    kind: Mapped[str] = mapped_column(String(10), default="key", server_default="key")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConnectorRow(Base):
    """A carrier bind the operator configured (API or CLI); a gateway process runs it.

    ``lease_owner``/``lease_until``: the one gateway process that owns the connector now
    (DESIGN.md: no double binds when gateways come and go). ``status``/``last_error``
    are what that process last reported, so any API process can show them.
    """

    __tablename__ = "connectors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    system_id: Mapped[str] = mapped_column(String(16))
    password: Mapped[str] = mapped_column(String(64))
    bind: Mapped[str] = mapped_column(String(12), default="receiver")
    options: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(20), default="stopped")
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GatewayProcess(Base):
    """A gateway process that runs connectors, alive while it renews ``alive_until`` (with
    its leases, every round). Their count is how connectors are shared out: each process
    takes at most its fair share, so adding a gateway process spreads the binds
    (smslocker.gateway.manager)."""

    __tablename__ = "gateway_processes"

    owner_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    alive_until: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONText, default=list)
    secret: Mapped[str] = mapped_column(String(100))
    # After a rotation the old secret still signs (second signature) until this time.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebhookDelivery(Base):
    """The durable outbox: one row per (event, endpoint); ``id`` is the ``webhook-id``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id"))
    account_id: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(Base):
    """Every delivery attempt, for the delivery log."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


# --------------------------------------------------------------------------- guard (0005)


class GuardAccountState(Base):
    """Where the abuse rules stand with an account (no row: nothing ever happened).

    ``level`` is the last escalation step taken (1 slow down, 2 verification required,
    3 suspended; 0 after an operator cleared it), ``last_action_at`` when.
    """

    __tablename__ = "guard_account_states"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, default=0)
    last_action_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    slow_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_required: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class GuardAlert(Base):
    """An action an abuse rule took (or a fact it wants an operator to see), with evidence."""

    __tablename__ = "guard_alerts"
    __table_args__ = (Index("ix_guard_alerts_account", "account_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rule: Mapped[str] = mapped_column(String(50))
    action: Mapped[str] = mapped_column(String(30))
    account_id: Mapped[int | None] = mapped_column(Integer)
    ip: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)


class RentalReport(Base):
    """A renter's feedback on a rental (one per rental): the number did not work."""

    __tablename__ = "rental_reports"
    __table_args__ = (Index("ix_rental_reports_account", "account_id", "created_at"),)

    rental_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(Integer)
    number_id: Mapped[int] = mapped_column(Integer, index=True)
    service: Mapped[str | None] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """The append-only audit trail; ``hash`` chains each entry to the one before it.

    ``id`` is given by the writer (previous id + 1, under a lock), not by a sequence: a
    gap or a duplicate is then a break in the chain, not something a sequence hides.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_action", "action", "id"),
        Index("ix_audit_log_actor", "actor", "id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(100))
    account_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONText, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AccountPassword(Base):
    """An account's password, set by the operator: a scrypt hash with its salt and
    parameters (``smslocker.accounts.passwords``). A table of its own, so the hash is
    never read by the many queries that read accounts."""

    __tablename__ = "account_passwords"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --------------------------------------------------------------------------- inbound filters (0007)


class InboundFilter(Base):
    """An operator's inbound filter rule (see smslocker.screening.rules)."""

    __tablename__ = "inbound_filters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    connector: Mapped[str | None] = mapped_column(String(100))
    field: Mapped[str] = mapped_column(String(10))
    match: Mapped[str] = mapped_column(String(10))
    pattern: Mapped[str] = mapped_column(String(500))
    action: Mapped[str] = mapped_column(String(10))
    service: Mapped[str | None] = mapped_column(String(50))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
