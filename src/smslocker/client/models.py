"""What the API returns, as typed dataclasses (times are aware UTC datetimes).

:class:`RentalInfo` is the one mutable model: the :class:`~smslocker.client.Rental`
handles extend it, and ``refresh()``, ``extend()``, ``release()`` and ``cancel()``
update it in place with the server's newest answer (:func:`update_rental`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Code:
    """A one-time code found in a message: its value, how sure the extraction is, and
    the message it came from."""

    value: str
    score: float
    kind: str | None
    message_id: int
    source: str | None
    received_at: datetime | None


@dataclass(frozen=True, slots=True)
class Message:
    """One inbound SMS of a rental (long messages already reassembled)."""

    id: int
    rental_id: str | None
    source: str
    destination: str
    #: None for a binary message, or once the operator's retention purged the body.
    text: str | None
    #: The codes found in the text, best first.
    codes: tuple[Code, ...]
    service: str | None
    encoding: str
    parts: int
    complete: bool
    smsc_timestamp: datetime | None
    received_at: datetime
    message_time: datetime

    @property
    def code(self) -> str | None:
        """The best code in the message, if any."""
        return self.codes[0].value if self.codes else None


@dataclass
class RentalInfo:
    """A rental as the server last described it."""

    id: str
    number: str
    service: str | None
    country: str | None
    #: ``active``, ``completed`` (released), ``cancelled`` or ``expired``.
    status: str
    started_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    price: int
    refunded: int
    messages_count: int

    @property
    def active(self) -> bool:
        return self.status == "active"


def update_rental(target: RentalInfo, source: RentalInfo) -> None:
    """Copy every field of ``source`` onto ``target`` (a handle keeps its identity)."""
    for item in fields(RentalInfo):
        setattr(target, item.name, getattr(source, item.name))


@dataclass(frozen=True, slots=True)
class Offer:
    """Numbers that can be rented now for one (country, carrier, service), and the price."""

    country: str | None
    carrier: str | None
    service: str | None
    count: int
    price: int


@dataclass(frozen=True, slots=True)
class Availability:
    """What can be rented now. ``numbers`` is only listed for admin keys."""

    total: int
    offers: tuple[Offer, ...]
    numbers: tuple[str, ...] | None


__all__ = ["Availability", "Code", "Message", "Offer", "RentalInfo", "update_rental"]
