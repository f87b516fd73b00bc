"""The screening step of ingest: each prepared message passes, is held, or is denied.

Run by :class:`~smslocker.routing.ingest.StoreSink` after preparing a connector's batch
and before the group commit, with the rule set of :class:`~.store.RuleCache`
(:func:`screen_rows`), and once more inside the batch's transaction for what only
routing knows (:func:`hold_unknown_senders`):

- a service's sender allow-list is checked against two services: the one ingest
  guessed for the message (from its sender or its text, :mod:`smslocker.routing.senders`)
  before the commit, and the service of the rental the message is routed to, inside
  the transaction, where the batch's window query finds the rental (and its service:
  :mod:`smslocker.routing.ingest_sql`). The second check is what holds a stranger's
  message to a number rented for "google" when its text names no service. It costs
  nothing when no rule names a service (the rule set says so once, and the check is
  skipped), and otherwise a few pattern tests per routed message; a message held there
  is stored held like any other (no inbox, no event, no webhook, no counter);
- health probes are never screened: they are the pool's own test messages, and a
  content rule that caught one would make a working number look dead;
- a denied message is not stored; one ``message.denied`` audit entry per message
  (connector, source, destination, rule, reason; never the text) is committed before
  :meth:`StoreSink.accept` returns, so the connector acknowledges it (the SMSC must not
  redeliver what was refused on purpose) only once the refusal is on record;
- a held message is stored with ``held`` and its reason (:mod:`.held`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from smslocker.guard import audit
from smslocker.store import Database

from .held import MESSAGE_DENIED
from .rules import Decision, RuleSet, Verdict

if TYPE_CHECKING:
    from smslocker.routing.prepare import PreparedMessage

#: What a sink asks for the rules to decide with (``RuleCache.rules``).
Screen = Callable[[], Awaitable[RuleSet]]

ACTOR = "system:ingest"
#: ``messages.held_reason`` is this long at most.
MAX_REASON = 200


def reason_of(decision: Decision) -> str:
    rule = f"rule {decision.rule_id}: " if decision.rule_id is not None else ""
    return (rule + decision.reason)[:MAX_REASON]


def screen_rows(
    rules: RuleSet, rows: Sequence[PreparedMessage]
) -> tuple[list[PreparedMessage], list[tuple[PreparedMessage, Decision]]]:
    """(the rows to store, held ones marked; the denied rows with their decisions)."""
    kept: list[PreparedMessage] = []
    denied: list[tuple[PreparedMessage, Decision]] = []
    for row in rows:
        if row.probe_token is not None:
            kept.append(row)
            continue
        decision = rules.decide(
            connector=row.connector, source=row.source, text=row.text, service=row.service
        )
        if decision.verdict is Verdict.DENY:
            denied.append((row, decision))
            continue
        if decision.verdict is Verdict.HOLD:
            row.held = True
            row.held_reason = reason_of(decision)
        kept.append(row)
    return kept, denied


def hold_unknown_senders(
    rules: RuleSet, rows: Iterable[PreparedMessage], services: Mapping[str, str | None]
) -> None:
    """Hold each of the routed ``rows`` whose rental's service (``services``: by rental id)
    has sender allow rules, in scope for the row's connector, that its source matches
    none of. Called by the batch's SQL after routing, before the insert, and only when
    ``rules.service_senders``; a row held already keeps its first reason."""
    for row in rows:
        if row.rental_id is None or row.held:
            continue
        service = services.get(row.rental_id)
        if service is None:
            continue
        decision = rules.sender_decision(
            connector=row.connector, source=row.source, service=service
        )
        if decision.verdict is Verdict.HOLD:
            row.held = True
            row.held_reason = reason_of(replace(decision, reason=decision.reason + " (rental)"))


def _record(
    connection: Connection, denied: Sequence[tuple[PreparedMessage, Decision]], now: datetime
) -> None:
    for row, decision in denied:
        audit.append(
            connection,
            MESSAGE_DENIED,
            at=now,
            actor=ACTOR,
            target=row.destination,
            details={
                "connector": row.connector,
                "source": row.source,
                "destination": row.destination,
                "rule_id": decision.rule_id,
                "reason": decision.reason,
                "received_at": row.received_at.isoformat(),
            },
        )


async def record_denied(
    db: Database, denied: Sequence[tuple[PreparedMessage, Decision]], now: datetime
) -> None:
    """One ``message.denied`` audit entry per denied message, in one transaction."""
    await db.run_write(partial(_record, denied=denied, now=now))


__all__ = [
    "ACTOR",
    "MAX_REASON",
    "Screen",
    "hold_unknown_senders",
    "reason_of",
    "record_denied",
    "screen_rows",
]
