"""The guard's reads on the rent path, built once and executed with parameters.

Building a SQLAlchemy statement costs more than running a small one on SQLite, and the
rent and release paths run these on every call (as ``rentals.service`` does with its
own statements). Parameters: ``account``; ``hour_ago`` (quota); ``burst_since``,
``empty_since`` and ``now`` (abuse rules, see :func:`count_parameters`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from smslocker.settings import GuardSettings
from smslocker.store.models import Account, GuardAccountState, Rental

_ACCOUNT = Rental.account_id == bindparam("account")

#: Rentals the account started in the last hour (the quota).
HOUR_RENTALS = (
    select(func.count())
    .select_from(Rental)
    .where(_ACCOUNT, Rental.started_at > bindparam("hour_ago"))
    .scalar_subquery()
    .label("rentals")
)
#: Rentals the account started within the rent-burst window.
BURST_RENTALS = (
    select(func.count())
    .select_from(Rental)
    .where(_ACCOUNT, Rental.started_at > bindparam("burst_since"))
    .scalar_subquery()
    .label("burst_rentals")
)
#: The account's rentals that ended with no SMS within the empty-endings window.
EMPTY_ENDINGS = (
    select(func.count())
    .select_from(Rental)
    .where(
        _ACCOUNT,
        Rental.status != "active",
        Rental.ended_at > bindparam("empty_since"),
        Rental.ended_at <= bindparam("now"),
        Rental.messages_count == 0,
    )
    .scalar_subquery()
    .label("empty_endings")
)


def _standing(*columns: Any) -> Any:
    return (
        select(Account.tier, GuardAccountState.slow_until, HOUR_RENTALS, *columns)
        .outerjoin(GuardAccountState, GuardAccountState.account_id == Account.id)
        .where(Account.id == bindparam("account"))
    )


#: Tier, slow-down and quota count of the account, in one statement...
STANDING = _standing()
#: ...and the abuse rules' counts with them (one round trip for the rent path).
STANDING_AND_COUNTS = _standing(BURST_RENTALS, EMPTY_ENDINGS)
#: The abuse rules' counts alone.
ACCOUNT_COUNTS = select(BURST_RENTALS, EMPTY_ENDINGS)


def count_parameters(settings: GuardSettings, now: datetime) -> dict[str, Any]:
    return {
        "burst_since": now - timedelta(seconds=settings.rent_burst.window_s),
        "empty_since": now - timedelta(seconds=settings.empty_endings.window_s),
        "now": now,
    }


__all__ = [
    "ACCOUNT_COUNTS",
    "BURST_RENTALS",
    "EMPTY_ENDINGS",
    "HOUR_RENTALS",
    "STANDING",
    "STANDING_AND_COUNTS",
    "count_parameters",
]
