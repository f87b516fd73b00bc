"""Per-service sender allow-lists checked against the service of the rental a message is
routed to (not only the service ingest guessed from its sender or text): in the batch's
transaction, on both databases, held like any other hold (no inbox, no event, no
webhook, no counter, no RESERVED -> IN_USE)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from smslocker.delivery.events import enqueue_webhooks
from smslocker.gateway.messages import InboundMessage
from smslocker.routing.inbox import rental_messages
from smslocker.routing.ingest import StoreSink, received_events
from smslocker.routing.ingest_sql import store_postgres, store_sqlite
from smslocker.routing.prepare import PreparedMessage, Preparer
from smslocker.screening.ingest_step import hold_unknown_senders
from smslocker.screening.rules import Action, Field, FilterRule, Match, RuleSet, Verdict
from smslocker.screening.store import create_filter, rule_cache
from smslocker.settings import IngestSettings
from smslocker.store import Database
from smslocker.store.models import (
    Account,
    Message,
    Number,
    Rental,
    WebhookDelivery,
    WebhookEndpoint,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
STRANGER = "447700900001"


def allow_sender(
    rule_id: int, pattern: str, service: str, connector: str | None = None
) -> FilterRule:
    return FilterRule(
        rule_id,
        Field.SOURCE,
        Match.EXACT,
        pattern,
        Action.ALLOW,
        connector=connector,
        service=service,
    )


GOOGLE_ONLY = RuleSet([allow_sender(1, "GOOGLE", "google")])


def sms(number: str, text: str, *, source: str = STRANGER, connector: str = "smsc-a") -> Any:
    return InboundMessage(
        connector=connector,
        source=source,
        destination=number.lstrip("+"),
        text=text,
        data_coding=0,
        encoding="gsm7",
        received_at=T0,
    )


def prepare(*messages: InboundMessage) -> list[PreparedMessage]:
    # No service guess: the texts name no service, so only the rental's can apply.
    preparer = Preparer(max_skew_s=300, max_age_s=86400)
    return [preparer.prepare(message) for message in messages]


def routed(rental_id: str, source: str, *, connector: str = "smsc-a") -> PreparedMessage:
    (row,) = prepare(sms("+14155550100", "Your code is 123456", source=source, connector=connector))
    row.rental_id, row.account_id = rental_id, 1
    return row


# --------------------------------------------------------------------------- pure


def test_sender_decision_holds_only_an_unknown_sender_of_a_listed_service() -> None:
    rules = RuleSet(
        [
            allow_sender(1, "GOOGLE", "google"),
            allow_sender(2, "WHATSAPP", "whatsapp", connector="smsc-b"),
        ]
    )
    assert rules.service_senders

    def verdict(connector: str, source: str, service: str) -> Verdict:
        return rules.sender_decision(connector=connector, source=source, service=service).verdict

    held = rules.sender_decision(connector="smsc-a", source=STRANGER, service="google")
    assert held.verdict is Verdict.HOLD
    assert "google" in held.reason
    # Exact is case-insensitive, as every other match.
    assert verdict("smsc-a", "google", "google") is Verdict.PASS
    # A service without a list, and a list scoped to another connector, do not apply.
    assert verdict("smsc-a", STRANGER, "tiktok") is Verdict.PASS
    assert verdict("smsc-a", STRANGER, "whatsapp") is Verdict.PASS
    assert verdict("smsc-b", STRANGER, "whatsapp") is Verdict.HOLD


def test_rule_sets_without_service_lists_say_so() -> None:
    assert not RuleSet([]).service_senders
    plain_allow = FilterRule(1, Field.SOURCE, Match.PREFIX, "44", Action.ALLOW)
    assert not RuleSet([plain_allow]).service_senders
    disabled = FilterRule(
        2, Field.SOURCE, Match.EXACT, "G", Action.ALLOW, service="google", enabled=False
    )
    assert not RuleSet([disabled]).service_senders


def test_hold_unknown_senders_looks_at_the_rentals_service() -> None:
    stranger = routed("rnt_google", STRANGER)
    known = routed("rnt_google", "GOOGLE")
    other_service = routed("rnt_tiktok", STRANGER)
    no_service = routed("rnt_none", STRANGER)
    other_connector = routed("rnt_scoped", STRANGER, connector="smsc-a")
    unmatched = routed("rnt_google", STRANGER)
    unmatched.rental_id = unmatched.account_id = None
    already = routed("rnt_google", STRANGER)
    already.held, already.held_reason = True, "rule 9: hold rule on content"
    rows = [stranger, known, other_service, no_service, other_connector, unmatched, already]
    rules = RuleSet(
        [allow_sender(1, "GOOGLE", "google"), allow_sender(2, "X", "scoped", connector="smsc-z")]
    )
    services = {
        "rnt_google": "google",
        "rnt_tiktok": "tiktok",
        "rnt_none": None,
        "rnt_scoped": "scoped",
    }

    hold_unknown_senders(rules, rows, services)

    assert [row.held for row in rows] == [True, False, False, False, False, False, True]
    assert stranger.held_reason is not None
    assert "service google" in stranger.held_reason
    assert "rental" in stranger.held_reason
    assert already.held_reason == "rule 9: hold rule on content"  # the first reason stays


# --------------------------------------------------------------------------- both databases


async def seed(db: Database, number: str, service: str | None) -> tuple[int, str]:
    """An account with a webhook endpoint, a RESERVED number, and its active rental."""
    async with db.write() as connection:
        account_id = (
            await connection.execute(
                insert(Account).values(name=f"renter-{number}", created_at=T0).returning(Account.id)
            )
        ).scalar_one()
        number_id = (
            await connection.execute(
                insert(Number)
                .values(e164=number, state="RESERVED", state_since=T0, created_at=T0)
                .returning(Number.id)
            )
        ).scalar_one()
        rental_id = f"rnt_{number.lstrip('+')}"
        await connection.execute(
            insert(Rental).values(
                id=rental_id,
                account_id=account_id,
                number_id=number_id,
                number=number,
                service=service,
                status="active",
                started_at=T0 - timedelta(minutes=5),
                expires_at=T0 + timedelta(minutes=15),
                window_end=T0 + timedelta(minutes=16),
            )
        )
        await connection.execute(
            insert(WebhookEndpoint).values(
                id=f"whe_{number.lstrip('+')}",
                account_id=account_id,
                url="https://hooks.test/in",
                events=["message.received"],
                secret="s" * 32,
                enabled=True,
                created_at=T0,
                updated_at=T0,
            )
        )
    return int(account_id), rental_id


async def store(
    db: Database, rows: Sequence[PreparedMessage], rules: RuleSet | None
) -> list[PreparedMessage]:
    """One batch, as ingest's store_batch writes it on each database (messages, counters,
    webhook outbox), with ``rules`` for the rental's service."""
    since = T0 - timedelta(days=1)
    if db.is_sqlite:

        def transaction(connection: Any) -> list[PreparedMessage]:
            fresh = store_sqlite(connection, rows, since, T0, rules)
            enqueue_webhooks(connection, received_events(fresh), T0)
            return fresh

        return await db.run_write(transaction)
    async with db.write() as connection:
        fresh, _ = await store_postgres(connection, rows, since, T0, received_events, rules)
    return fresh


async def state_of(db: Database, number: str, rental_id: str) -> tuple[str, int, int, Any]:
    async with db.read() as connection:
        number_row = (await connection.execute(select(Number).where(Number.e164 == number))).one()
        rental = (await connection.execute(select(Rental).where(Rental.id == rental_id))).one()
    return (
        number_row.state,
        number_row.messages_count,
        rental.messages_count,
        rental.first_message_at,
    )


async def webhook_payloads(db: Database) -> list[str]:
    async with db.read() as connection:
        return list((await connection.scalars(select(WebhookDelivery.payload))).all())


async def test_a_stranger_to_a_google_rental_is_held_on_both_databases(database: Database) -> None:
    google, tiktok = "+14155550100", "+14155550101"
    google_account, google_rental = await seed(database, google, "google")
    _, tiktok_rental = await seed(database, tiktok, "tiktok")  # a service with no list
    rows = prepare(
        sms(google, "Your code is 123456"),  # names no service: only the rental's applies
        sms(tiktok, "Your code is 654321"),
    )
    assert [row.service for row in rows] == [None, None]

    fresh = await store(database, rows, GOOGLE_ONLY)

    assert [row.held for row in fresh] == [True, False]
    async with database.read() as connection:
        stored = (
            await connection.execute(
                select(Message.rental_id, Message.held, Message.held_reason).order_by(Message.id)
            )
        ).all()
    assert [(row.rental_id, row.held) for row in stored] == [
        (google_rental, True),
        (tiktok_rental, False),
    ]
    assert stored[0].held_reason is not None
    assert "sender not known for service google" in stored[0].held_reason
    # Out of the inbox, no event, no webhook, no counter, and the number stays RESERVED.
    assert await rental_messages(database, google_account, google_rental, after=0, limit=10) == []
    assert [event["rental_id"] for event in received_events(fresh)] == [tiktok_rental]
    payloads = await webhook_payloads(database)
    assert len(payloads) == 1
    assert tiktok_rental in payloads[0]
    assert await state_of(database, google, google_rental) == ("RESERVED", 0, 0, None)
    tiktok_state = await state_of(database, tiktok, tiktok_rental)
    assert tiktok_state[:3] == ("IN_USE", 1, 1)


async def test_a_listed_sender_to_a_google_rental_is_routed(database: Database) -> None:
    google = "+14155550100"
    account, rental = await seed(database, google, "google")
    fresh = await store(database, prepare(sms(google, "G-123456", source="Google")), GOOGLE_ONLY)
    assert [row.held for row in fresh] == [False]
    assert len(await rental_messages(database, account, rental, after=0, limit=10)) == 1
    assert len(await webhook_payloads(database)) == 1
    state, number_count, rental_count, _ = await state_of(database, google, rental)
    assert (state, number_count, rental_count) == ("IN_USE", 1, 1)


async def test_without_service_lists_the_stranger_is_routed(database: Database) -> None:
    """The check is skipped for a rule set with no sender list (and without rules): the
    same message as above goes to the rental's inbox."""
    google = "+14155550100"
    account, rental = await seed(database, google, "google")
    content_only = RuleSet([FilterRule(1, Field.CONTENT, Match.CONTAINS, "casino", Action.HOLD)])
    assert not content_only.service_senders
    first = await store(database, prepare(sms(google, "Your code is 111111")), content_only)
    second = await store(database, prepare(sms(google, "Your code is 222222")), None)
    assert [row.held for row in first + second] == [False, False]
    assert len(await rental_messages(database, account, rental, after=0, limit=10)) == 2


async def test_a_list_for_another_connector_does_not_hold(database: Database) -> None:
    google = "+14155550100"
    account, rental = await seed(database, google, "google")
    scoped = RuleSet([allow_sender(1, "GOOGLE", "google", connector="smsc-b")])
    fresh = await store(
        database,
        prepare(
            sms(google, "Your code is 111111", connector="smsc-a"),
            sms(google, "Your code is 222222", connector="smsc-b"),
        ),
        scoped,
    )
    assert [row.held for row in fresh] == [False, True]
    assert len(await rental_messages(database, account, rental, after=0, limit=10)) == 1


async def test_the_sink_holds_a_stranger_to_a_google_rental(database: Database) -> None:
    """The same check through the connector's sink, with the operator's rules from the
    table: the wiring that takes the rule set into the batch's transaction."""
    google = "+14155550100"
    account, rental = await seed(database, google, "google")
    await create_filter(
        database,
        field=Field.SOURCE,
        match=Match.EXACT,
        pattern="GOOGLE",
        action=Action.ALLOW,
        service="google",
        now=T0,
        actor="test",
    )
    sink = StoreSink(
        database, IngestSettings(batch_ms=0.0), clock=lambda: T0, screen=rule_cache(database).rules
    )
    await sink.accept(
        [sms(google, "Your code is 123456"), sms(google, "G-654321", source="GOOGLE")]
    )
    await sink.close()
    [listed] = await rental_messages(database, account, rental, after=0, limit=10)
    assert listed.source == "GOOGLE"
    async with database.read() as connection:
        held = (await connection.execute(select(Message.source).where(Message.held))).all()
    assert [row.source for row in held] == [STRANGER]
