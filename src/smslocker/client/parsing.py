"""What the server's answers mean: an error answer becomes its typed exception
(:func:`decode`), a JSON body becomes the typed models of :mod:`.models`.

The shapes are the API's "Rental JSON", "Message JSON" and the pages around them
(``smslocker.api.views``). A body of another shape is a :class:`ResponseError`, never
a KeyError from deep inside the SDK: each public parser checks as it reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any, TypeVar

import httpx

from .errors import ResponseError, error_for
from .models import Availability, Code, Message, Offer, RentalInfo

T = TypeVar("T")


def decode(response: httpx.Response) -> Any:
    """The JSON of a success answer; an error answer raises its typed exception."""
    if response.status_code >= 400:
        raise error_for(response.status_code, response.headers, response.content)
    try:
        return json.loads(response.content)
    except ValueError:
        raise ResponseError(
            f"{response.request.method} {response.request.url.path}: "
            f"HTTP {response.status_code} answer is not JSON"
        ) from None


def _parser(what: str) -> Callable[[Callable[[Any], T]], Callable[[Any], T]]:
    """Make a parser raise :class:`ResponseError` on a body it cannot read."""

    def wrap(parse: Callable[[Any], T]) -> Callable[[Any], T]:
        @wraps(parse)
        def checked(data: Any) -> T:
            try:
                return parse(data)
            except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
                raise ResponseError(f"cannot read the {what} the server sent: {error!r}") from None

        return checked

    return wrap


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 time, got {value!r}")
    return datetime.fromisoformat(value)


def _optional_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _rental(data: Any) -> RentalInfo:
    return RentalInfo(
        id=str(data["id"]),
        number=str(data["number"]),
        service=data["service"],
        country=data["country"],
        status=str(data["status"]),
        started_at=_time(data["started_at"]),
        expires_at=_time(data["expires_at"]),
        ended_at=_optional_time(data["ended_at"]),
        end_reason=data["end_reason"],
        price=int(data["price"]),
        refunded=int(data["refunded"]),
        messages_count=int(data["messages_count"]),
    )


def _message(data: Any) -> Message:
    message_id, source = int(data["id"]), str(data["source"])
    received_at = _time(data["received_at"])
    codes = tuple(
        Code(
            value=str(code["value"]),
            score=float(code.get("score", 0.0)),
            kind=code.get("kind"),
            message_id=message_id,
            source=source,
            received_at=received_at,
        )
        for code in data["codes"] or ()
    )
    return Message(
        id=message_id,
        rental_id=data["rental_id"],
        source=source,
        destination=str(data["destination"]),
        text=data["text"],
        codes=codes,
        service=data["service"],
        encoding=str(data["encoding"]),
        parts=int(data["parts"]),
        complete=bool(data["complete"]),
        smsc_timestamp=_optional_time(data["smsc_timestamp"]),
        received_at=received_at,
        message_time=_time(data["message_time"]),
    )


@_parser("rental")
def rental(data: Any) -> RentalInfo:
    return _rental(data)


@_parser("rentals page")
def rental_page(data: Any) -> tuple[list[RentalInfo], str | None]:
    """The rentals of a page, and the ``before`` of the next page (None: the last)."""
    before = data["next_before"]
    return [_rental(item) for item in data["rentals"]], None if before is None else str(before)


@_parser("message")
def message(data: Any) -> Message:
    return _message(data)


@_parser("messages page")
def message_page(data: Any) -> tuple[list[Message], int]:
    """The messages of a page, and the ``after`` that asks for newer ones."""
    return [_message(item) for item in data["messages"]], int(data["next_after"])


@_parser("code")
def latest_code(data: Any) -> Code | None:
    """The answer of ``GET .../code``: None when no code came (in time)."""
    if data["code"] is None:
        return None
    candidate = data["candidate"] or {}
    return Code(
        # ``code`` is the value to type in; ``candidate`` may hold it as written ("482-913").
        value=str(data["code"]),
        score=float(candidate.get("score", 0.0)),
        kind=candidate.get("kind"),
        message_id=int(data["message_id"]),
        source=data["source"],
        received_at=_optional_time(data["received_at"]),
    )


@_parser("availability")
def availability(data: Any) -> Availability:
    numbers = data.get("numbers")
    return Availability(
        total=int(data["total"]),
        offers=tuple(
            Offer(
                country=item["country"],
                carrier=item["carrier"],
                service=item["service"],
                count=int(item["count"]),
                price=int(item["price"]),
            )
            for item in data["available"]
        ),
        numbers=None if numbers is None else tuple(str(item["number"]) for item in numbers),
    )


__all__ = [
    "availability",
    "decode",
    "latest_code",
    "message",
    "message_page",
    "rental",
    "rental_page",
]
