"""Window matching: which rental a message belongs to (DESIGN.md, the routing rule).

A message belongs to the rental of its destination number whose window
``[started_at, window_end]`` contains the message time; ``window_end`` is
``(ended_at or expires_at) + grace``, kept by the rentals side. Windows of one
number never overlap (the rentals side does not rent a number again before the
last window closed), so at most one window contains a time; :func:`pick_rental`
still takes the latest start should two ever do, like the contract's
``ORDER BY started_at DESC LIMIT 1``.

Everything here is pure: the per-batch query that loads the windows lives with
the rest of the ingest SQL in :mod:`.ingest_sql`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def normalise_destination(address: str) -> str:
    """An SMPP destination_addr as the pool stores numbers: E.164 with ``+``.

    ``"14155550100"`` (TON international, no plus in SMPP) becomes
    ``"+14155550100"``; an address that already has the plus, or is not all
    digits (a short code with letters, an alphanumeric id), is kept as it is.
    """
    if address.isdigit() and address.isascii():
        return "+" + address
    return address


def timestamp_sane(
    received_at: datetime, smsc_timestamp: datetime, *, max_skew: timedelta, max_age: timedelta
) -> bool:
    """Whether an SMSC timestamp can be believed: not later than ``received_at + max_skew``
    and not earlier than ``received_at - max_age`` (a wrong clock or zone at the SMSC)."""
    return received_at - max_age <= smsc_timestamp <= received_at + max_skew


def message_time(
    received_at: datetime,
    smsc_timestamp: datetime | None,
    *,
    max_skew: timedelta,
    max_age: timedelta,
) -> datetime:
    """The time routing uses: the SMSC timestamp when present and sane, else ``received_at``.

    A sane timestamp that is still ahead of our clock (the SMSC's clock runs a
    little fast) counts as ``received_at``: a message cannot have been sent after
    we received it, and a time in the future could fall after the end of a
    window that a release shrinks later (release ends a window at "now" +
    grace), leaving a message its renter already saw outside that renter's
    window, and inside the next renter's.
    """
    if smsc_timestamp is None or not timestamp_sane(
        received_at, smsc_timestamp, max_skew=max_skew, max_age=max_age
    ):
        return received_at
    return min(smsc_timestamp, received_at)


@dataclass(frozen=True, slots=True)
class RentalWindow:
    """A rental as routing sees it (one row of the per-batch window query)."""

    rental_id: str
    account_id: int
    number: str
    number_id: int
    status: str
    started_at: datetime
    window_end: datetime

    def contains(self, moment: datetime) -> bool:
        return self.started_at <= moment <= self.window_end


def windows_by_number(windows: Iterable[RentalWindow]) -> dict[str, list[RentalWindow]]:
    """Windows grouped by number, latest start first (the order :func:`pick_rental` wants)."""
    grouped: dict[str, list[RentalWindow]] = {}
    for window in windows:
        grouped.setdefault(window.number, []).append(window)
    for candidates in grouped.values():
        candidates.sort(key=lambda window: window.started_at, reverse=True)
    return grouped


def pick_rental(candidates: list[RentalWindow] | None, moment: datetime) -> RentalWindow | None:
    """The window (of one number, latest start first) that contains ``moment``, if any."""
    if not candidates:
        return None
    for window in candidates:
        if window.started_at <= moment:
            # Latest start not after the moment: the only window that can contain it.
            return window if moment <= window.window_end else None
    return None


def as_utc(value: datetime | str) -> datetime:
    """A time read back without SQLAlchemy's types (driver-level SQL) as an aware UTC datetime.

    SQLite hands back the text UTCDateTime stored (naive UTC); asyncpg hands back
    aware datetimes.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
