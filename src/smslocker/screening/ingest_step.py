"""The screening step of ingest: each prepared message passes, is held, or is denied.

Run by :class:`~smslocker.routing.ingest.StoreSink` after preparing a connector's batch
and before the group commit, with the rule set of :class:`~.store.RuleCache`:

- the service a rule's sender allow-list is checked against is the one ingest guessed
  for the message (from its sender or its text, :mod:`smslocker.routing.senders`), not
  the rental's: the rental is only known inside the batch's transaction, on the hot
  path, and a stranger's message that names the service ("Your WhatsApp code ...") is
  guessed as that service anyway;
- health probes are never screened: they are the pool's own test messages, and a
  content rule that caught one would make a working number look dead;
- a denied message is not stored; one ``message.denied`` audit entry per message
  (connector, source, destination, rule, reason; never the text) is committed before
  :meth:`StoreSink.accept` returns, so the connector acknowledges it (the SMSC must not
  redeliver what was refused on purpose) only once the refusal is on record;
- a held message is stored with ``held`` and its reason (:mod:`.held`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
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


__all__ = ["ACTOR", "MAX_REASON", "Screen", "reason_of", "record_denied", "screen_rows"]
