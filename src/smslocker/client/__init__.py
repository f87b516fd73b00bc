"""The smslocker Python SDK: rent a number, wait for its one-time code, release it.

::

    from smslocker.client import Client

    with Client("http://localhost:8000", "sk_...") as client:
        with client.rent(country="US", service="google") as rental:
            print(rental.number)
            code = rental.wait_for_code(timeout=120)

:class:`AsyncClient` does the same with ``await`` / ``async with``. The URL and key
default to ``SMSLOCKER_URL`` and ``SMSLOCKER_API_KEY``. Errors are the tree of
:mod:`smslocker.client.errors`; the pytest fixtures ``sms_number`` and ``sms_client``
are in :mod:`smslocker.client.pytest_plugin`.

Layout: :mod:`.protocol` decides what to ask and what answers mean (no I/O);
:mod:`.sync_client` and :mod:`.async_client` only carry the requests.
"""

from .async_client import AsyncClient, AsyncRental, Renting
from .errors import (
    APIError,
    AuthenticationError,
    CodeTimeout,
    ConfigurationError,
    ConflictError,
    InsufficientCredits,
    NetworkError,
    NoNumberAvailable,
    NotFoundError,
    Problem,
    RateLimited,
    ResponseError,
    ServerError,
    SmslockerError,
    ValidationError,
    WaitTimeout,
)
from .models import Availability, Code, Message, Offer, RentalInfo
from .sync_client import Client, Rental

__all__ = [
    "APIError",
    "AsyncClient",
    "AsyncRental",
    "AuthenticationError",
    "Availability",
    "Client",
    "Code",
    "CodeTimeout",
    "ConfigurationError",
    "ConflictError",
    "InsufficientCredits",
    "Message",
    "NetworkError",
    "NoNumberAvailable",
    "NotFoundError",
    "Offer",
    "Problem",
    "RateLimited",
    "Rental",
    "RentalInfo",
    "Renting",
    "ResponseError",
    "ServerError",
    "SmslockerError",
    "ValidationError",
    "WaitTimeout",
]
