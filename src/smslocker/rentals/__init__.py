"""Rentals: accounts and credits, the price table, rent / extend / release / cancel, expiry.

:mod:`.service` holds the use cases, :mod:`.credits` balances, the ledger and prices,
:mod:`.ending` what every end of a rental does, :mod:`.sweeper` the time-driven moves,
:mod:`.errors` the exceptions the API turns into 4xx answers.
"""

from smslocker.pool.tags import clear_failing, mark_failing

from .credits import (
    adjust,
    balance_of,
    create_account,
    delete_price,
    ledger_of,
    list_prices,
    set_price,
    top_up,
)
from .errors import (
    AccountNotFound,
    InsufficientCredit,
    InvalidRequest,
    NoNumberAvailable,
    NumberNotFound,
    NumberNotRentable,
    RentalError,
    RentalLimitReached,
    RentalNotActive,
    RentalNotFound,
)
from .service import cancel, extend, get_rental, list_rentals, release, rent
from .sweeper import SweepCounts, run_sweeper, sweep
from .views import RentalStatus, RentalView, RentRequest

__all__ = [
    "AccountNotFound",
    "InsufficientCredit",
    "InvalidRequest",
    "NoNumberAvailable",
    "NumberNotFound",
    "NumberNotRentable",
    "RentRequest",
    "RentalError",
    "RentalLimitReached",
    "RentalNotActive",
    "RentalNotFound",
    "RentalStatus",
    "RentalView",
    "SweepCounts",
    "adjust",
    "balance_of",
    "cancel",
    "clear_failing",
    "create_account",
    "delete_price",
    "extend",
    "get_rental",
    "ledger_of",
    "list_prices",
    "list_rentals",
    "mark_failing",
    "release",
    "rent",
    "run_sweeper",
    "set_price",
    "sweep",
    "top_up",
]
