"""The ``rental.*`` events: outbox rows in the rental's transaction, the bus after it.

A :class:`RentalEvents` is the observer (:mod:`smslocker.rentals.changes`) that the API
and the sweeper hand to the rentals use cases. Inside the transaction it writes the
webhook outbox rows (:func:`~.events.enqueue_webhooks`), so a webhook is enqueued if and
only if the change committed; it keeps the events, and :meth:`RentalEvents.committed`
sends them to the push streams once the caller knows the transaction committed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from smslocker.api.views import rental_json
from smslocker.rentals.changes import RentalChange
from smslocker.rentals.views import RentalView

from .bus import Bus, Event
from .events import enqueue_webhooks, publish, rental_event


class RentalEvents:
    """Observer of rental changes for webhooks and push (see the module docstring).

    One per request (or per sweeper): the events it keeps are published, then dropped,
    by :meth:`committed`.
    """

    def __init__(self, clock: Callable[[], datetime], bus: Bus) -> None:
        self._clock = clock
        self._bus = bus
        self._pending: list[Event] = []

    def __call__(self, connection: Connection, change: RentalChange, rental: RentalView) -> None:
        event = rental_event(f"rental.{change.value}", rental.account_id, rental_json(rental))
        enqueue_webhooks(connection, [event], self._clock())
        self._pending.append(event)

    async def committed(self) -> None:
        """Publish the events seen since the last call (after their commit)."""
        pending, self._pending = self._pending, []
        if pending:
            await publish(self._bus, pending)

    def rolled_back(self) -> None:
        """Forget what was seen: its transaction rolled back."""
        self._pending.clear()


__all__ = ["RentalEvents"]
