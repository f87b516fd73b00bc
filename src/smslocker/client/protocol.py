"""The SDK's core, without I/O: which requests an operation makes, in which order, and
when it is done (what each answer means is :mod:`.parsing`). The sync and async clients
only carry requests to the server and back.

Theory of operation: every operation is a *flow*, a generator that yields what it
needs done — a :class:`Request` to send, or a :class:`Pause` to sleep — and is sent
back the decoded JSON answer of each request (None after a pause). It returns the
operation's result, or raises an :mod:`~smslocker.client.errors` exception. A client
runs a flow with a loop of a few lines (``Client._run``, ``AsyncClient._run``), so
paging, long-poll re-polling and timeouts are written once, here, for both. Error
answers never reach a flow: :func:`.parsing.decode` turns them into exceptions first.

Waiting (``wait_for_code``, ``wait_for_message``) uses the server's long-poll: each
request asks the server to hold it up to ``poll_s`` seconds (the server caps a wait
at 60 s) and the flow asks again until the caller's timeout. It needs no push
channel: an answer is read from the rental's inbox every time, so a message is found
even when nothing announced it (then at the end of the poll).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from smslocker import __version__

from . import parsing
from .errors import CodeTimeout, ConfigurationError, WaitTimeout
from .models import Availability, Code, Message, RentalInfo

T = TypeVar("T")

URL_ENV = "SMSLOCKER_URL"
API_KEY_ENV = "SMSLOCKER_API_KEY"
V1 = "/api/v1"
#: Seconds one long-poll asks the server to hold: under the server's 60 s cap, and under
#: the 60 s idle timeout of common reverse proxies, so a proxy never cuts a quiet poll.
POLL_S = 50.0
#: A long-poll answered empty much sooner than asked (a server shutting down, a proxy)
#: is asked again after this pause, not in a tight loop.
REPOLL_PAUSE_S = 1.0
#: Messages per page when reading all of a rental's messages (the server allows 1000).
PAGE = 500
#: Rentals per page when listing them (the server allows 200).
RENTAL_PAGE = 200


@dataclass(frozen=True)
class Request:
    """One HTTP request to make. ``wait_s`` is how long the server may hold it (a
    long-poll): the client's read timeout must allow for it."""

    method: str
    path: str
    params: Mapping[str, str | int | float] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    wait_s: float = 0.0


@dataclass(frozen=True)
class Pause:
    """Sleep this many seconds, then go on."""

    seconds: float


Step = Request | Pause
#: A flow yields steps, is sent each request's decoded JSON answer, and returns a T.
Flow = Generator[Step, Any, T]


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to authenticate: arguments first, then environment."""

    base_url: str
    headers: Mapping[str, str]

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        api_key: str | None,
        environ: Mapping[str, str] = os.environ,
    ) -> Connection:
        base_url = base_url or environ.get(URL_ENV) or None
        api_key = api_key or environ.get(API_KEY_ENV) or None
        if base_url is None:
            raise ConfigurationError(f"no server URL: pass base_url or set {URL_ENV}")
        if api_key is None:
            raise ConfigurationError(f"no API key: pass api_key or set {API_KEY_ENV}")
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": f"smslocker-python/{__version__}",
        }
        return cls(base_url.rstrip("/"), headers)


# --------------------------------------------------------------------------- flows


def _rental_path(rental_id: str, *rest: str) -> str:
    # An id is put in the path as one segment, whatever it holds.
    return "/".join((V1, "rentals", quote(rental_id, safe=""), *rest))


def _without_none(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def rent(
    *,
    country: str | None,
    service: str | None,
    carrier: str | None,
    number: str | None,
    duration_s: int | None,
) -> Flow[RentalInfo]:
    body = _without_none(
        country=country, service=service, carrier=carrier, number=number, duration_s=duration_s
    )
    data = yield Request("POST", f"{V1}/rentals", json=body)
    return parsing.rental(data)


def get_rental(rental_id: str) -> Flow[RentalInfo]:
    data = yield Request("GET", _rental_path(rental_id))
    return parsing.rental(data)


def extend(rental_id: str, seconds: int | None) -> Flow[RentalInfo]:
    data = yield Request(
        "POST", _rental_path(rental_id, "extend"), json=_without_none(duration_s=seconds)
    )
    return parsing.rental(data)


def end(rental_id: str, how: str) -> Flow[RentalInfo]:
    """``how`` is ``release`` (done with it) or ``cancel`` (giving it up)."""
    if how not in ("release", "cancel"):
        raise ValueError(f"how must be 'release' or 'cancel', not {how!r}")
    data = yield Request("POST", _rental_path(rental_id, how))
    return parsing.rental(data)


def list_rentals(*, status: str | None, service: str | None) -> Flow[list[RentalInfo]]:
    """All of the account's rentals, newest first, following the ``before`` pages."""
    found: list[RentalInfo] = []
    before: str | None = None
    while True:
        params = _without_none(status=status, service=service, before=before)
        data = yield Request("GET", f"{V1}/rentals", params={**params, "limit": RENTAL_PAGE})
        page, before = parsing.rental_page(data)
        found.extend(page)
        if before is None:
            return found


def available(
    *, country: str | None, service: str | None, carrier: str | None
) -> Flow[Availability]:
    params = _without_none(country=country, service=service, carrier=carrier)
    data = yield Request("GET", f"{V1}/numbers", params=params)
    return parsing.availability(data)


def messages(rental_id: str, *, after: int = 0) -> Flow[list[Message]]:
    """Every message with an id above ``after``, oldest first, page after page."""
    found: list[Message] = []
    while True:
        data = yield Request(
            "GET", _rental_path(rental_id, "messages"), params={"after": after, "limit": PAGE}
        )
        page, after = parsing.message_page(data)
        found.extend(page)
        if len(page) < PAGE:
            return found


def latest_code(rental_id: str, *, after: int | None, wait_s: float = 0.0) -> Flow[Code | None]:
    """The newest code (of a message after ``after``), the server waiting up to
    ``wait_s`` for one; None when none came."""
    params = _without_none(after=after, wait=wait_s or None)
    data = yield Request("GET", _rental_path(rental_id, "code"), params=params, wait_s=wait_s)
    return parsing.latest_code(data)


def _next_message(rental_id: str, *, after: int, wait_s: float) -> Flow[Message | None]:
    params = {"after": after, "limit": 1, **_without_none(wait=wait_s or None)}
    data = yield Request("GET", _rental_path(rental_id, "messages"), params=params, wait_s=wait_s)
    page, _next_after = parsing.message_page(data)
    return page[0] if page else None


def _wait(
    poll: Callable[[float], Flow[T | None]],
    timeout: float,
    poll_s: float,
    clock: Callable[[], float],
) -> Flow[T | None]:
    """Long-poll with ``poll(wait_s)`` until it finds something or ``timeout`` passes."""
    deadline = clock() + timeout
    while True:
        asked = max(0.0, min(deadline - clock(), poll_s))
        started = clock()
        found = yield from poll(asked)
        if found is not None:
            return found
        if clock() >= deadline:
            return None
        if clock() - started < asked / 2:  # answered early: do not hammer the server
            yield Pause(min(REPOLL_PAUSE_S, max(0.0, deadline - clock())))


def wait_for_code(
    rental_id: str,
    *,
    timeout: float,
    after: int | None = None,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
) -> Flow[Code]:
    """The newest code (of a message after ``after``), waiting up to ``timeout`` s for
    one; :class:`CodeTimeout` if none came."""
    found = yield from _wait(
        lambda wait_s: latest_code(rental_id, after=after, wait_s=wait_s), timeout, poll_s, clock
    )
    if found is None:
        raise CodeTimeout(
            f"no code for rental {rental_id} within {timeout:g} s",
            rental_id=rental_id,
            timeout=timeout,
        )
    return found


def wait_for_message(
    rental_id: str,
    *,
    timeout: float,
    after: int | None = None,
    poll_s: float = POLL_S,
    clock: Callable[[], float] = time.monotonic,
) -> Flow[Message]:
    """The first message with an id above ``after`` (the rental's first message when
    None), waiting up to ``timeout`` s for it; :class:`WaitTimeout` if none came."""
    found = yield from _wait(
        lambda wait_s: _next_message(rental_id, after=after or 0, wait_s=wait_s),
        timeout,
        poll_s,
        clock,
    )
    if found is None:
        raise WaitTimeout(
            f"no message for rental {rental_id} within {timeout:g} s",
            rental_id=rental_id,
            timeout=timeout,
        )
    return found


__all__ = [
    "API_KEY_ENV",
    "PAGE",
    "POLL_S",
    "URL_ENV",
    "Connection",
    "Flow",
    "Pause",
    "Request",
    "Step",
    "available",
    "end",
    "extend",
    "get_rental",
    "latest_code",
    "list_rentals",
    "messages",
    "rent",
    "wait_for_code",
    "wait_for_message",
]
