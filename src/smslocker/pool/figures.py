"""Pool health figures, for the metrics and the operator's console.

Per connector, per carrier, for the whole pool and for one number: how many numbers in
each state, the probe success rate, the median time a probe took to arrive, and the SMS
received per rental. Probe and rental figures cover what started at or after ``since``
(everything when None): metrics pass a window such as the last day, so the queries read
the recent rows only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import func, select

from smslocker.store.db import Database
from smslocker.store.models import Number, Probe, Rental

#: Group name of numbers without a connector or a carrier.
NONE = "-"


@dataclass(slots=True)
class HealthFigures:
    """Figures of one group of numbers (or one number)."""

    numbers: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    probes_ok: int = 0
    probes_failed: int = 0
    arrival_ms: list[float] = field(default_factory=list, repr=False)
    rentals: int = 0
    messages: int = 0

    @property
    def probe_success_rate(self) -> float | None:
        """Ok probes over settled probes (None before any settled)."""
        settled = self.probes_ok + self.probes_failed
        return self.probes_ok / settled if settled else None

    @property
    def median_arrival_ms(self) -> float | None:
        return median(self.arrival_ms) if self.arrival_ms else None

    @property
    def sms_per_rental(self) -> float | None:
        return self.messages / self.rentals if self.rentals else None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON (the API, the console)."""
        return {
            "numbers": self.numbers,
            "by_state": dict(self.by_state),
            "probes_ok": self.probes_ok,
            "probes_failed": self.probes_failed,
            "probe_success_rate": self.probe_success_rate,
            "median_arrival_ms": self.median_arrival_ms,
            "rentals": self.rentals,
            "messages": self.messages,
            "sms_per_rental": self.sms_per_rental,
        }


@dataclass(slots=True)
class PoolFigures:
    """The whole pool, and the same figures per connector and per carrier."""

    pool: HealthFigures = field(default_factory=HealthFigures)
    by_connector: dict[str, HealthFigures] = field(
        default_factory=lambda: defaultdict(HealthFigures)
    )
    by_carrier: dict[str, HealthFigures] = field(default_factory=lambda: defaultdict(HealthFigures))

    def _groups(self, connector: str | None, carrier: str | None) -> list[HealthFigures]:
        return [self.pool, self.by_connector[connector or NONE], self.by_carrier[carrier or NONE]]


async def pool_figures(db: Database, *, since: datetime | None = None) -> PoolFigures:
    """Figures of the whole pool, per connector and per carrier (see the module docstring)."""
    figures = PoolFigures()
    async with db.read() as connection:
        states = await connection.execute(
            select(Number.connector, Number.carrier, Number.state, func.count()).group_by(
                Number.connector, Number.carrier, Number.state
            )
        )
        for connector, carrier, state, count in states:
            for group in figures._groups(connector, carrier):
                group.numbers += count
                group.by_state[state] = group.by_state.get(state, 0) + count
        probes = await connection.execute(_probe_rows(since))
        for connector, carrier, outcome, sent_at, arrived_at in probes:
            for group in figures._groups(connector, carrier):
                _add_probe(group, outcome, sent_at, arrived_at)
        rentals = await connection.execute(_rental_totals(since))
        for connector, carrier, count, messages in rentals:
            for group in figures._groups(connector, carrier):
                group.rentals += count
                group.messages += int(messages or 0)
    figures.by_connector = dict(figures.by_connector)
    figures.by_carrier = dict(figures.by_carrier)
    return figures


async def number_figures(
    db: Database, number_id: int, *, since: datetime | None = None
) -> HealthFigures | None:
    """The figures of one number (None if there is no such number)."""
    async with db.read() as connection:
        state = await connection.scalar(select(Number.state).where(Number.id == number_id))
        if state is None:
            return None
        figures = HealthFigures(numbers=1, by_state={state: 1})
        probes = await connection.execute(_probe_rows(since).where(Probe.number_id == number_id))
        for _connector, _carrier, outcome, sent_at, arrived_at in probes:
            _add_probe(figures, outcome, sent_at, arrived_at)
        rentals = await connection.execute(
            _rental_totals(since).where(Rental.number_id == number_id)
        )
        for _connector, _carrier, count, messages in rentals:
            figures.rentals += count
            figures.messages += int(messages or 0)
    return figures


def _probe_rows(since: datetime | None) -> Any:
    query = (
        select(Number.connector, Number.carrier, Probe.outcome, Probe.sent_at, Probe.arrived_at)
        .join(Number, Number.id == Probe.number_id)
        .where(Probe.outcome.in_(("ok", "failed")))
    )
    return query if since is None else query.where(Probe.sent_at >= since)


def _rental_totals(since: datetime | None) -> Any:
    query = (
        select(Number.connector, Number.carrier, func.count(), func.sum(Rental.messages_count))
        .join(Number, Number.id == Rental.number_id)
        .group_by(Number.connector, Number.carrier)
    )
    return query if since is None else query.where(Rental.started_at >= since)


def _add_probe(
    group: HealthFigures, outcome: str, sent_at: datetime, arrived_at: datetime | None
) -> None:
    if outcome == "ok":
        group.probes_ok += 1
        if arrived_at is not None:
            group.arrival_ms.append((arrived_at - sent_at) / timedelta(milliseconds=1))
    else:
        group.probes_failed += 1


__all__ = ["NONE", "HealthFigures", "PoolFigures", "number_figures", "pool_figures"]
