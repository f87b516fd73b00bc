"""Observers of rental changes, called inside the transaction that makes the change.

Whoever must record a change atomically with it (the webhook outbox, the audit trail)
passes an observer to the use case; it runs in the same write transaction, after the
change and before the commit, so its rows commit or roll back with the rental. Work
that must wait for the commit (publishing on the bus) is the observer's own business:
it keeps what it saw and acts once the use case has returned.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from sqlalchemy import Connection

from .views import RentalStatus, RentalView


class RentalChange(StrEnum):
    """What happened to a rental; the webhook event type is ``rental.<value>``."""

    CREATED = "created"
    EXTENDED = "extended"
    RELEASED = "released"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


#: ``(connection, change, rental as it now is)``, inside the change's transaction.
RentalObserver = Callable[[Connection, RentalChange, RentalView], None]


class TransactionObserver(Protocol):
    """An observer that also hears how its transaction ended (the sweeper's expiries)."""

    def __call__(self, connection: Connection, change: RentalChange, rental: RentalView) -> None:
        """As :data:`RentalObserver`."""

    async def committed(self) -> None:
        """The transaction it observed committed."""

    def rolled_back(self) -> None:
        """The transaction it observed rolled back: forget what it saw."""


_ENDS = {
    RentalStatus.COMPLETED: RentalChange.RELEASED,
    RentalStatus.CANCELLED: RentalChange.CANCELLED,
    RentalStatus.EXPIRED: RentalChange.EXPIRED,
}


def ending_change(status: RentalStatus) -> RentalChange:
    """The change that ending a rental with ``status`` is."""
    return _ENDS[status]


__all__ = ["RentalChange", "RentalObserver", "TransactionObserver", "ending_change"]
