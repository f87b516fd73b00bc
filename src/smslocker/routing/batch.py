"""The database-free part of storing one batch: duplicates, routing, counters.

Shared by both databases' SQL (:mod:`.ingest_sql`), which feeds these functions
what its set-based queries returned. Pure, so the SQLite version can run them in
its writer thread in the middle of the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from smslocker.rentals.views import RentalStatus

from .prepare import PreparedMessage
from .route import RentalWindow, pick_rental, windows_by_number

ACTIVE = RentalStatus.ACTIVE.value


def first_of_each_key(rows: Sequence[PreparedMessage]) -> dict[str, PreparedMessage]:
    """The first row of each de-duplication key, in arrival order.

    Within one batch too: a redelivery can arrive before our ack of the original.
    """
    first: dict[str, PreparedMessage] = {}
    for row in rows:
        first.setdefault(row.dedup_key, row)
    return first


def fresh_rows(first: dict[str, PreparedMessage], existing: set[str]) -> list[PreparedMessage]:
    """The rows whose key was not stored within the window, in arrival order."""
    return [row for key, row in first.items() if key not in existing]


def routable(rows: Iterable[PreparedMessage]) -> list[PreparedMessage]:
    """The rows routing looks at: every one but health probes (never a renter's)."""
    return [row for row in rows if row.probe_token is None]


def window_query_range(rows: Sequence[PreparedMessage]) -> tuple[list[str], datetime, datetime]:
    """(numbers, earliest, latest): what one window query for ``rows`` needs."""
    numbers = sorted({row.destination for row in rows})
    times = [row.message_time for row in rows]
    return numbers, min(times), max(times)


def route_rows(rows: Iterable[PreparedMessage], windows: Iterable[RentalWindow]) -> None:
    """Set rental and account on each row whose time is in a window of its number."""
    grouped = windows_by_number(windows)
    if not grouped:
        return
    for row in rows:
        window = pick_rental(grouped.get(row.destination), row.message_time)
        if window is not None:
            row.rental_id = window.rental_id
            row.account_id = window.account_id
            row.rental_active = window.status == ACTIVE


@dataclass(slots=True)
class RentalCount:
    messages: int
    first_received_at: datetime


@dataclass(slots=True)
class NumberCount:
    messages: int
    routed: bool
    """A message went to the number's active rental: RESERVED -> IN_USE if still RESERVED.
    Not for an ended rental's late message: the number may be reserved by the next renter."""


@dataclass
class Tally:
    """The counter updates one batch makes."""

    rentals: dict[str, RentalCount] = field(default_factory=dict)
    numbers: dict[str, NumberCount] = field(default_factory=dict)
    """By E.164."""

    def rental_counts(self) -> list[tuple[str, int, datetime]]:
        """(rental id, new messages, earliest received_at) for each rental."""
        return [
            (rental_id, count.messages, count.first_received_at)
            for rental_id, count in self.rentals.items()
        ]

    def number_counts(self) -> list[tuple[str, int, bool]]:
        """(E.164, new messages, routed) for each number."""
        return [(e164, count.messages, count.routed) for e164, count in self.numbers.items()]


def tally(rows: Iterable[PreparedMessage]) -> Tally:
    """Counter updates for the stored ``rows``; probes are the pool's to count, and a held
    row's counters move when an operator releases it (smslocker.screening.held)."""
    result = Tally()
    for row in rows:
        if row.probe_token is not None or row.held:
            continue
        routed = row.rental_id is not None and row.rental_active
        number = result.numbers.get(row.destination)
        if number is None:
            result.numbers[row.destination] = NumberCount(1, routed)
        else:
            number.messages += 1
            number.routed = number.routed or routed
        if row.rental_id is None:
            continue
        count = result.rentals.get(row.rental_id)
        if count is None:
            result.rentals[row.rental_id] = RentalCount(1, row.received_at)
        else:
            count.messages += 1
            count.first_received_at = min(count.first_received_at, row.received_at)
    return result
