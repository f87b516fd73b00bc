"""Limits: token buckets on API calls, rental quotas by tier, the slow-down of an account.

Every refusal is a :class:`RateLimited` naming the limit, so the API can say which one
(and when to come back) in its 429 answer.

- API calls: one bucket per client IP (every call, with a key or not, so guessing keys
  is slowed too) and one per API key (``key_rate_per_s``, ``key_burst``).
- Rentals: at most ``rental_quota_per_hour[tier]`` rentals started in any rolling hour.
  Counted from the rentals table, the record itself, so every process agrees and a
  restart forgets nothing. Two rent calls of one account racing at the quota's edge can
  both pass (the check and the rent are two transactions): a quota is a brake on
  abuse, not an invariant like "no double rental".
- Slow down (an abuse rule's first step): while ``slow_until`` is ahead, the account
  rents at most once per ``slow_down_interval_s``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from smslocker.settings import GuardSettings
from smslocker.store.db import Database
from smslocker.store.models import Rental

from . import queries
from .counters import Counters

UNVERIFIED = "unverified"
HOUR = timedelta(hours=1)

#: The limits a 429 can name.
CLIENT_IP = "client-ip"
API_KEY = "api-key"
RENTAL_QUOTA = "rental-quota"
SLOW_DOWN = "slow-down"
REPORT_RATE = "report-rate"


class RateLimited(Exception):
    """Over ``limit``; ``retry_after`` seconds until the next call can pass."""

    def __init__(self, limit: str, retry_after: float, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.retry_after = retry_after
        self.detail = detail


def quota_for(settings: GuardSettings, tier: str) -> int:
    quotas = settings.rental_quota_per_hour
    return quotas.get(tier, quotas.get(UNVERIFIED, 0))


async def check_call(
    counters: Counters, settings: GuardSettings, ip: str, key_id: str | None, now: float
) -> None:
    """Spend a token of the caller's IP and, with a key, of the key; raise when empty."""
    taken = await counters.take(f"ip:{ip}", settings.ip_rate_per_s, settings.ip_burst, now)
    if not taken.allowed:
        raise RateLimited(
            CLIENT_IP,
            taken.retry_after,
            f"more than {settings.ip_rate_per_s:g} calls per second from this address",
        )
    if key_id is None:
        return
    taken = await counters.take(f"key:{key_id}", settings.key_rate_per_s, settings.key_burst, now)
    if not taken.allowed:
        raise RateLimited(
            API_KEY,
            taken.retry_after,
            f"more than {settings.key_rate_per_s:g} calls per second with this API key",
        )


async def check_rent(
    db: Database,
    counters: Counters,
    settings: GuardSettings,
    account_id: int,
    now: datetime,
    *,
    with_counts: bool = False,
) -> Any:
    """Raise :class:`RateLimited` if ``account_id`` may not start a rental now.

    Returns the row read (None when there is no such account); ``with_counts`` adds the
    abuse rules' counts to it (``burst_rentals``, ``empty_endings``), read in the same
    statement so that the rent path makes one round trip for both.
    """
    hour_ago = now - HOUR
    parameters: dict[str, Any] = {"account": account_id, "hour_ago": hour_ago}
    if with_counts:
        parameters |= queries.count_parameters(settings, now)
    statement = queries.STANDING_AND_COUNTS if with_counts else queries.STANDING
    async with db.read() as connection:
        standing = (await connection.execute(statement, parameters)).first()
        if standing is None:
            return None  # the rent itself answers "no such account"
        quota = quota_for(settings, standing.tier)
        if standing.rentals >= quota:
            recent = (
                await connection.scalars(
                    select(Rental.started_at)
                    .where(Rental.account_id == account_id, Rental.started_at > hour_ago)
                    .order_by(Rental.started_at.desc())
                    .limit(max(quota, 1))
                )
            ).all()
            # The slot frees when the oldest of the newest ``quota`` rentals leaves the hour.
            frees_at = recent[-1] + HOUR if quota else now + HOUR
            raise RateLimited(
                RENTAL_QUOTA,
                max(1.0, (frees_at - now).total_seconds()),
                f"the quota of tier {standing.tier!r} is {quota} rentals per hour",
            )
    if standing.slow_until is not None and standing.slow_until > now:
        interval = settings.slow_down_interval_s
        taken = await counters.take(f"slow:{account_id}", 1 / interval, 1, now.timestamp())
        if not taken.allowed:
            raise RateLimited(
                SLOW_DOWN,
                taken.retry_after,
                f"this account is slowed down: one rental per {interval} s until "
                f"{standing.slow_until.isoformat()}",
            )
    return standing


__all__ = [
    "API_KEY",
    "CLIENT_IP",
    "RENTAL_QUOTA",
    "REPORT_RATE",
    "SLOW_DOWN",
    "UNVERIFIED",
    "RateLimited",
    "check_call",
    "check_rent",
    "quota_for",
]
