"""What the API says: the JSON of a rental and of a message, and their response models.

:func:`rental_json` and :func:`message_json` are the one place each wire format is
built (the contract's "Rental JSON" and "Message JSON"): REST answers, bus events,
WebSocket and SSE frames and webhook payloads all use them, so a field never means two
things. They return plain JSON-ready dicts (times as ISO-8601 UTC with ``Z``); the
pydantic models below describe the same shapes for ``/openapi.json`` and check the
REST answers against them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from smslocker.rentals import RentalView


def iso(moment: datetime | None) -> str | None:
    """An aware time as ISO-8601 UTC with ``Z`` (None stays None)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- builders


def rental_json(rental: RentalView) -> dict[str, Any]:
    """A rental as the API shows it to its renter."""
    return {
        "id": rental.id,
        "number": rental.number,
        "service": rental.service,
        "country": rental.country,
        "status": rental.status,
        "started_at": iso(rental.started_at),
        "expires_at": iso(rental.expires_at),
        "ended_at": iso(rental.ended_at),
        "end_reason": rental.end_reason,
        "price": rental.price,
        "refunded": rental.refunded,
        "messages_count": rental.messages_count,
    }


def message_json(message: Any) -> dict[str, Any]:
    """A stored message as its renter sees it.

    ``message`` is anything with a message row's fields (an :class:`~smslocker.routing.
    inbox.InboxMessage`, a database row): ``codes`` as a list, or ``codes_json`` as the
    JSON text ingest stores. Codes come best first; ``text`` and ``codes`` are None once
    the body was purged (retention).
    """
    return {
        "id": message.id,
        "rental_id": message.rental_id,
        "source": message.source,
        "destination": message.destination,
        "text": message.text,
        "codes": _codes_of(message),
        "service": message.service,
        "data_coding": message.data_coding,
        "encoding": message.encoding,
        "parts": message.parts,
        "complete": message.complete,
        "smsc_timestamp": iso(message.smsc_timestamp),
        "received_at": iso(message.received_at),
        "message_time": iso(message.message_time),
    }


def _codes_of(message: Any) -> list[dict[str, Any]] | None:
    codes = getattr(message, "codes", None)
    if codes is None and isinstance(getattr(message, "codes_json", None), str):
        codes = json.loads(message.codes_json)
    if codes is None:
        return None
    # Stored best first already; sorted again (stably) so the promise holds for any row.
    return sorted((dict(code) for code in codes), key=lambda code: -float(code.get("score", 0)))


def messages_json(messages: Sequence[Any]) -> list[dict[str, Any]]:
    return [message_json(message) for message in messages]


# --------------------------------------------------------------------------- models

_OUT = ConfigDict(extra="forbid")


class RentalOut(BaseModel):
    """A rental: the number, its service, its window and what it cost."""

    model_config = _OUT

    id: str = Field(examples=["rnt_01jz3k4x8q"])
    number: str = Field(description="E.164 with '+'", examples=["+14155550100"])
    service: str | None = Field(description="the service the number was rented for")
    country: str | None = Field(description="ISO 3166-1 alpha-2")
    status: str = Field(description="active, completed, cancelled or expired")
    started_at: datetime
    expires_at: datetime = Field(description="messages up to here (plus grace) are yours")
    ended_at: datetime | None
    end_reason: str | None
    price: int = Field(description="credits charged")
    refunded: int = Field(description="credits given back (a rental with no SMS is refunded)")
    messages_count: int


class SessionOut(RentalOut):
    """``POST /api/rent``: the rental, plus the short form's ``session_id`` and
    ``expires_in`` (seconds left)."""

    session_id: str
    expires_in: int


class RentalPage(BaseModel):
    model_config = _OUT

    rentals: list[RentalOut]
    next_before: str | None = Field(
        description="pass as `before` for the next (older) page; null on the last page"
    )


class CodeOut(BaseModel):
    """A one-time code found in a message."""

    model_config = ConfigDict(extra="allow")

    value: str = Field(examples=["482913"])
    score: float = Field(description="confidence, 0..1")
    kind: str | None = None


class MessageOut(BaseModel):
    """One inbound SMS of a rental."""

    model_config = _OUT

    id: int = Field(description="increases in arrival order; page with `after`")
    rental_id: str | None
    source: str
    destination: str
    text: str | None = Field(description="null for a binary message or once purged")
    codes: list[CodeOut] | None = Field(description="codes found, best first")
    service: str | None
    data_coding: int
    encoding: str
    parts: int
    complete: bool
    smsc_timestamp: datetime | None
    received_at: datetime
    message_time: datetime = Field(description="the time routing used")


class MessagePage(BaseModel):
    model_config = _OUT

    messages: list[MessageOut]
    next_after: int = Field(description="pass as `after` to get only newer messages")


class LatestCodeOut(BaseModel):
    """``code`` is null when no code came (in time): ask again, or wait longer."""

    model_config = _OUT

    rental_id: str
    code: str | None
    candidate: CodeOut | None = Field(description="the code with its score and kind")
    message_id: int | None
    source: str | None
    received_at: datetime | None


class Availability(BaseModel):
    model_config = _OUT

    country: str | None
    carrier: str | None
    service: str | None
    count: int = Field(description="numbers that can be rented now")
    price: int = Field(description="credits per rental")


class AvailableNumber(BaseModel):
    model_config = _OUT

    number: str
    country: str | None
    carrier: str | None
    line_type: str
    connector: str | None


class AvailabilityOut(BaseModel):
    """What can be rented now. ``numbers`` is listed for admin keys only (null otherwise)."""

    model_config = _OUT

    total: int
    available: list[Availability]
    numbers: list[AvailableNumber] | None = None


class ProblemOut(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may answer with these problem statuses."""
    described = {
        401: "no key, or a key that is not valid",
        402: "the balance does not cover the price",
        403: "the key may not do this",
        404: "no such thing for this account",
        409: "the state does not allow it now",
        422: "the request is not valid",
    }
    return {
        status: {"model": ProblemOut, "description": described.get(status, "a problem")}
        for status in statuses
    }


__all__ = [
    "Availability",
    "AvailabilityOut",
    "AvailableNumber",
    "CodeOut",
    "LatestCodeOut",
    "MessageOut",
    "MessagePage",
    "ProblemOut",
    "RentalOut",
    "RentalPage",
    "SessionOut",
    "iso",
    "message_json",
    "messages_json",
    "problems",
    "rental_json",
]
