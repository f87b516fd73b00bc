"""What can go wrong with accounts, prices and rentals.

The hierarchy (the API turns each into a 4xx with its message)::

    RentalError
    ├── InvalidRequest          a duration, an amount or a number that makes no sense
    ├── AccountNotFound
    ├── InsufficientCredit      the balance does not cover the price (or the debit)
    ├── NoNumberAvailable       no number in the pool matches right now
    ├── NumberNotFound          a number asked for by name that the pool does not have
    ├── NumberNotRentable       ... that it has, but not free (rented, resting, quarantined)
    ├── RentalNotFound          no such rental for this account (another's counts as none)
    ├── RentalNotActive         the rental has ended (or expired and awaits the sweeper)
    └── RentalLimitReached      an extension beyond policy.max_rental_s
"""

from __future__ import annotations


class RentalError(Exception):
    """Base of every error of this package; ``str()`` is a message for the user."""


class InvalidRequest(RentalError):
    pass


class AccountNotFound(RentalError):
    pass


class InsufficientCredit(RentalError):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"balance {balance} does not cover {needed}")
        self.balance = balance
        self.needed = needed


class NoNumberAvailable(RentalError):
    pass


class NumberNotFound(RentalError):
    pass


class NumberNotRentable(RentalError):
    pass


class RentalNotFound(RentalError):
    pass


class RentalNotActive(RentalError):
    pass


class RentalLimitReached(RentalError):
    pass


__all__ = [
    "AccountNotFound",
    "InsufficientCredit",
    "InvalidRequest",
    "NoNumberAvailable",
    "NumberNotFound",
    "NumberNotRentable",
    "RentalError",
    "RentalLimitReached",
    "RentalNotActive",
    "RentalNotFound",
]
