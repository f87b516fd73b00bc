"""Health probes: a test SMS to our own number, expected back on the inbound side.

Theory of operation: :func:`send_probes` writes a pending :class:`~smslocker.store.models.
Probe` per number (with a random token and a deadline), commits, and only then submits
``"smslocker probe <token>"`` through a :class:`~.transmitter.Transmitter`, so that an
echo arriving within milliseconds finds its probe. Ingest recognises the text
(:data:`PROBE_PATTERN`, :func:`probe_token`), calls :func:`complete_probe` in the
transaction that stores the message, and never routes it to a renter.
:func:`fail_overdue_probes` fails the probes whose deadline passed; a number whose
probes failed ``policy.probe_failures_to_quarantine`` times in a row goes to QUARANTINE
for ``policy.quarantine_s`` (from FREE or COOLDOWN only: a rented number is being
tested by its renter, and a rental must never lose its number to a probe).

The figures built on these probes (success rate, time to arrive, per number, connector
and carrier) are :func:`~.figures.pool_figures` and :func:`~.figures.number_figures`,
re-exported here.

A probe that the transmitter could not send is ``unsent``: a link problem is not the
number's fault and does not count against it.

Locks: :func:`fail_overdue_probes` takes its probe and number rows with SKIP LOCKED, so
it never waits on ingest (which settles probes and then touches numbers, in any order)
and can never be part of a deadlock; what it skips, the next run fails.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.settings import PolicySettings
from smslocker.store.db import Database
from smslocker.store.models import Number, Probe

from .figures import number_figures, pool_figures
from .lifecycle import NumberEvent, NumberState
from .transitions import apply_event
from .transmitter import Transmitter

PROBE_TEXT = "smslocker probe {token}"
#: What ingest looks for in a message's text; group 1 is the token.
PROBE_PATTERN = re.compile(r"smslocker probe ([0-9a-z]{8,32})")
PENDING, OK, FAILED, UNSENT = "pending", "ok", "failed", "unsent"

#: Numbers that can be probed: not rented (a probe must not reach a renter's inbox
#: counters), not retired.
PROBED_STATES = (NumberState.FREE.value, NumberState.QUARANTINE.value)


@dataclass(frozen=True, slots=True)
class ProbeRound:
    """What :func:`send_probes` did: the tokens sent, and how many could not be sent."""

    sent: tuple[str, ...]
    unsent: int


@dataclass(frozen=True, slots=True)
class OverdueProbes:
    """What :func:`fail_overdue_probes` did."""

    failed: int
    quarantined: int


def probe_token(text: str | None) -> str | None:
    """The probe token in a message's text, or None if it is not a probe."""
    if not text:
        return None
    match = PROBE_PATTERN.search(text)
    return match.group(1) if match else None


async def send_probes(
    db: Database,
    transmitter: Transmitter,
    now: datetime,
    policy: PolicySettings,
    *,
    limit: int = 100,
    connector: str | None = None,
    number_ids: list[int] | None = None,
) -> ProbeRound:
    """Probe up to ``limit`` numbers (those probed longest ago first), or ``number_ids``.

    ``connector`` keeps to the numbers of one connector: the transmitter must reach the
    SMSC that serves them.
    """
    targets = await _claim_targets(db, now, policy, limit, connector, number_ids)
    results = await asyncio.gather(*(_submit(transmitter, e164, token) for e164, token in targets))
    unsent = [token for (_e164, token), ok in zip(targets, results, strict=True) if not ok]
    if unsent:
        await db.run_write(
            lambda connection: connection.execute(
                update(Probe)
                .where(Probe.token.in_(unsent), Probe.outcome == PENDING)
                .values(outcome=UNSENT)
            )
        )
    return ProbeRound(tuple(token for _e164, token in targets if token not in unsent), len(unsent))


async def _claim_targets(
    db: Database,
    now: datetime,
    policy: PolicySettings,
    limit: int,
    connector: str | None,
    number_ids: list[int] | None,
) -> list[tuple[str, str]]:
    """Pick the numbers and commit a pending probe for each: (e164, token) pairs."""
    pending = select(Probe.number_id).where(Probe.outcome == PENDING)
    query = select(Number.id, Number.e164, Number.connector).where(
        Number.state.in_(PROBED_STATES), Number.id.not_in(pending)
    )
    if number_ids is not None:
        query = query.where(Number.id.in_(number_ids))
    if connector is not None:
        query = query.where(Number.connector == connector)
    # Never probed first (NULL), then the oldest probe; written so both databases agree.
    query = query.order_by(Number.last_probe_at.is_not(None), Number.last_probe_at, Number.id)
    deadline = now + timedelta(seconds=policy.probe_deadline_s)

    def claim(connection: Connection) -> list[tuple[str, str]]:
        rows = connection.execute(query.limit(limit)).all()
        if not rows:
            return []
        tokens = [secrets.token_hex(8) for _ in rows]
        connection.execute(
            insert(Probe),
            [
                {
                    "number_id": number_id,
                    "destination": e164,
                    "token": token,
                    "connector": number_connector,
                    "sent_at": now,
                    "deadline": deadline,
                    "outcome": PENDING,
                }
                for (number_id, e164, number_connector), token in zip(rows, tokens, strict=True)
            ],
        )
        connection.execute(
            update(Number).where(Number.id.in_([row[0] for row in rows])).values(last_probe_at=now)
        )
        return [(row[1], token) for row, token in zip(rows, tokens, strict=True)]

    return await db.run_write(claim)


async def _submit(transmitter: Transmitter, e164: str, token: str) -> bool:
    try:
        await transmitter.submit(e164, PROBE_TEXT.format(token=token))
    except Exception:  # whatever the transmitter raised, the probe was not sent
        return False
    return True


def _settle_statement(token: str, arrived_at: datetime) -> Any:
    outcome = case((Probe.deadline >= arrived_at, OK), else_=FAILED)
    return (
        update(Probe)
        .where(Probe.token == token, Probe.outcome == PENDING)
        .values(outcome=outcome, arrived_at=arrived_at)
        .returning(Probe.number_id, Probe.sent_at, Probe.outcome)
    )


def _count_statement(settled: Any, arrived_at: datetime) -> Any:
    """The number's counters after its probe ``settled`` as (number_id, sent_at, outcome)."""
    number_id, sent_at, result = settled
    elapsed_ms = max(0, int((arrived_at - sent_at) / timedelta(milliseconds=1)))
    if result == OK:
        values = {"probes_ok": Number.probes_ok + 1, "probe_failure_streak": 0}
    else:
        values = {
            "probes_failed": Number.probes_failed + 1,
            "probe_failure_streak": Number.probe_failure_streak + 1,
        }
    return update(Number).where(Number.id == number_id).values(last_probe_ms=elapsed_ms, **values)


async def complete_probe(connection: AsyncConnection, token: str, arrived_at: datetime) -> bool:
    """Settle the pending probe ``token``: it came back at ``arrived_at``.

    For ingest, in the transaction that stores the message. Within the deadline the
    probe is ok and the number's failure streak ends; later, it counts as failed. Returns
    False when no pending probe has that token (unknown, or settled already: a
    redelivered echo).
    """
    settled = (await connection.execute(_settle_statement(token, arrived_at))).first()
    if settled is None:
        return False
    await connection.execute(_count_statement(settled, arrived_at))
    return True


def complete_probe_sync(connection: Connection, token: str, arrived_at: datetime) -> bool:
    """:func:`complete_probe` on a sync connection (inside ``Database.run_write``)."""
    settled = connection.execute(_settle_statement(token, arrived_at)).first()
    if settled is None:
        return False
    connection.execute(_count_statement(settled, arrived_at))
    return True


async def fail_overdue_probes(db: Database, now: datetime, policy: PolicySettings) -> OverdueProbes:
    """Fail the pending probes whose deadline has passed; quarantine repeat failures."""
    return await db.run_write(partial(_fail_overdue, now=now, policy=policy))


def _fail_overdue(connection: Connection, now: datetime, policy: PolicySettings) -> OverdueProbes:
    overdue = connection.execute(
        select(Probe.id, Probe.number_id)
        .where(Probe.outcome == PENDING, Probe.deadline < now)
        .order_by(Probe.id)
        .with_for_update(skip_locked=True)
    ).all()
    numbers = _lock_numbers(connection, sorted({number_id for _id, number_id in overdue}))
    failing = [(probe_id, number_id) for probe_id, number_id in overdue if number_id in numbers]
    if not failing:
        return OverdueProbes(0, 0)
    connection.execute(
        update(Probe)
        .where(Probe.id.in_([probe_id for probe_id, _ in failing]))
        .values(outcome=FAILED)
    )
    for number_id, count in sorted(Counter(number_id for _, number_id in failing).items()):
        connection.execute(
            update(Number)
            .where(Number.id == number_id)
            .values(
                probes_failed=Number.probes_failed + count,
                probe_failure_streak=Number.probe_failure_streak + count,
            )
        )
    quarantined = _quarantine(connection, sorted(numbers), now, policy)
    return OverdueProbes(len(failing), quarantined)


def _lock_numbers(connection: Connection, number_ids: list[int]) -> set[int]:
    """Lock what can be locked now (PostgreSQL); the rest waits for the next run."""
    if not number_ids:
        return set()
    locked = connection.execute(
        select(Number.id)
        .where(Number.id.in_(number_ids))
        .order_by(Number.id)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return set(locked.scalars())


def _quarantine(
    connection: Connection, number_ids: list[int], now: datetime, policy: PolicySettings
) -> int:
    until = now + timedelta(seconds=policy.quarantine_s)
    return apply_event(
        connection,
        NumberEvent.QUARANTINE,
        now,
        Number.id.in_(number_ids),
        Number.probe_failure_streak >= policy.probe_failures_to_quarantine,
        only_from=[NumberState.FREE, NumberState.COOLDOWN],
        # Never free before the last rental's window has closed (see rentals.sweeper).
        state_until=case((Number.busy_until > until, Number.busy_until), else_=until),
    )


__all__ = [
    "PROBED_STATES",
    "PROBE_PATTERN",
    "PROBE_TEXT",
    "OverdueProbes",
    "ProbeRound",
    "complete_probe",
    "complete_probe_sync",
    "fail_overdue_probes",
    "number_figures",
    "pool_figures",
    "probe_token",
    "send_probes",
]
