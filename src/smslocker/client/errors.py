"""What can go wrong when talking to smslocker, as one tree of exceptions.

::

    SmslockerError                 everything the SDK raises
    ├── ConfigurationError         no server URL or API key given (nor in the environment)
    ├── NetworkError               the server could not be reached, or the link broke
    ├── ResponseError              the server answered something the SDK cannot read
    ├── WaitTimeout                nothing came in time (also a TimeoutError)
    │   └── CodeTimeout            no one-time code came in time
    └── APIError                   the server answered with an error (``problem`` holds it)
        ├── ValidationError        400, 422: the request is not valid
        ├── AuthenticationError    401, 403: no key, a wrong key, or not allowed
        ├── InsufficientCredits    402: the balance does not cover the price
        ├── NotFoundError          404: no such rental (or not yours) or number
        ├── ConflictError          409: the state does not allow it now
        │   └── NoNumberAvailable  409 ``no-number-available``: nothing to rent right now
        ├── RateLimited            429: slow down (``retry_after`` seconds)
        └── ServerError            5xx

The server answers every error as an RFC 9457 problem document; :class:`Problem` is
that document, and :func:`error_for` picks the class for an answer. The problem
``type`` is checked before the status, so a server that moves a problem to another
status still raises the same class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem document, as the server sent it."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    #: Members beyond the standard ones (``errors`` of a validation problem, ...).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The last part of ``type`` (``"no-number-available"``): what to switch on."""
        return self.type.rstrip("/").rsplit("/", 1)[-1]


class SmslockerError(Exception):
    """Base of every error the SDK raises."""


class ConfigurationError(SmslockerError):
    """The client lacks a server URL or an API key."""


class NetworkError(SmslockerError):
    """The request did not get an answer: connection refused, reset, or timed out."""


class ResponseError(SmslockerError):
    """A success answer the SDK cannot read (not JSON, or fields missing)."""


class WaitTimeout(SmslockerError, TimeoutError):
    """Nothing arrived within the time the caller gave."""

    def __init__(self, message: str, *, rental_id: str, timeout: float) -> None:
        super().__init__(message)
        self.rental_id = rental_id
        self.timeout = timeout


class CodeTimeout(WaitTimeout):
    """No one-time code arrived within the time the caller gave."""


class APIError(SmslockerError):
    """The server answered with an error; ``problem`` is its problem document."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem

    @property
    def status(self) -> int:
        return self.problem.status


class ValidationError(APIError):
    """400 or 422: the request is not valid (``problem.extra["errors"]`` says where)."""


class AuthenticationError(APIError):
    """401 or 403: the API key is missing, wrong, revoked, suspended or not allowed."""


class InsufficientCredits(APIError):
    """402: the account's balance does not cover the price."""


class NotFoundError(APIError):
    """404: no such rental for this account (or no such number)."""


class ConflictError(APIError):
    """409: the state does not allow it now (the rental has ended, the number is taken)."""


class NoNumberAvailable(ConflictError):
    """409 ``no-number-available``: nothing matches the filters right now; try later or
    with other filters."""


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` is how many seconds to wait, if said."""

    def __init__(self, problem: Problem, retry_after: float | None) -> None:
        super().__init__(problem)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed; the request may be retried."""


_BY_KIND: dict[str, type[APIError]] = {
    "no-number-available": NoNumberAvailable,
    "insufficient-credit": InsufficientCredits,
    "validation-error": ValidationError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    402: InsufficientCredits,
    403: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    422: ValidationError,
}


def error_for(status: int, headers: Mapping[str, str], content: bytes) -> APIError:
    """The exception for an error answer (``status`` >= 400)."""
    problem = parse_problem(status, content)
    if status == 429:
        return RateLimited(problem, retry_after(headers.get("retry-after")))
    error_class = _BY_KIND.get(problem.kind) or _BY_STATUS.get(status)
    if error_class is None:
        error_class = ServerError if status >= 500 else APIError
    return error_class(problem)


_STANDARD = ("type", "title", "status", "detail", "instance")


def parse_problem(status: int, content: bytes) -> Problem:
    """The problem document in ``content``; an answer that is not one (a proxy's HTML
    error page) becomes an ``about:blank`` problem carrying the start of its text."""
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = content[:200].decode("utf-8", "replace").strip()
        return Problem("about:blank", f"HTTP {status}", status, text or f"HTTP {status}")
    instance = body.get("instance")
    return Problem(
        type=str(body.get("type") or "about:blank"),
        title=str(body.get("title") or f"HTTP {status}"),
        # The HTTP status is the truth (RFC 9457 section 3.1.3).
        status=status,
        detail=str(body.get("detail") or body.get("title") or ""),
        instance=instance if isinstance(instance, str) else None,
        extra={key: value for key, value in body.items() if key not in _STANDARD},
    )


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delay-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


__all__ = [
    "APIError",
    "AuthenticationError",
    "CodeTimeout",
    "ConfigurationError",
    "ConflictError",
    "InsufficientCredits",
    "NetworkError",
    "NoNumberAvailable",
    "NotFoundError",
    "Problem",
    "RateLimited",
    "ResponseError",
    "ServerError",
    "SmslockerError",
    "ValidationError",
    "WaitTimeout",
    "error_for",
    "parse_problem",
    "retry_after",
]
