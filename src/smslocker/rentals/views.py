"""Rentals as callers see them, and what a renter asks for."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from smslocker.store.models import Rental


class RentalStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"  # released by the renter: done
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class RentRequest:
    """A rent call. ``number`` (any format ``phonenumbers`` reads, best +E.164) picks the
    number itself; otherwise the platform picks one by the filters. ``duration_s`` is
    capped by ``policy.max_rental_s``; None means ``policy.rental_ttl_s``."""

    service: str | None = None
    country: str | None = None
    carrier: str | None = None
    mobile_only: bool = False
    number: str | None = None
    duration_s: int | None = None


@dataclass(frozen=True, slots=True)
class RentalView:
    """A copy of one rental row. ``window_end`` is the last instant a message belongs to it."""

    id: str
    account_id: int
    number_id: int
    number: str
    service: str | None
    country: str | None
    status: str
    started_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    window_end: datetime
    price: int
    refunded: int
    messages_count: int
    first_message_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> RentalView:
        return cls(**row._mapping)

    @property
    def active(self) -> bool:
        return self.status == RentalStatus.ACTIVE


#: Every column of a rental, in :class:`RentalView` order (for select and RETURNING).
RENTAL_COLUMNS = tuple(Rental.__table__.columns[field.name] for field in fields(RentalView))


__all__ = ["RENTAL_COLUMNS", "RentRequest", "RentalStatus", "RentalView"]
