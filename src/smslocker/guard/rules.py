"""The abuse rules: sliding windows over what accounts and IPs do, on by default.

- ``rent_burst``: an account, or an IP, started ``count`` rentals within ``window_s``
  (the account's from the rentals table; the IP's from the shared counters, since
  rentals do not record the address).
- ``accounts_per_ip``: ``count`` distinct accounts used from one IP within
  ``window_s`` (shared counters): every authenticated call of a user's key counts its
  account for the caller's address (:func:`account_seen`, from the API's middleware),
  not only rents, so a farm of accounts behind one address is seen when it browses,
  reads or holds streams too. The account seen when it fires is acted on; the alert's
  evidence names the address. Operators' (admin) keys are not counted.
- ``empty_endings``: ``count`` of an account's rentals ended (cancelled, released or
  expired) with no SMS within ``window_s`` (rentals table): numbers taken and dropped,
  typical of scripts cycling through the pool.

The API calls :func:`after_rent` and :func:`after_end`; a rule that fires hands a
:class:`~.standing.Trigger` to :func:`~.standing.act`, which escalates.
"""

from __future__ import annotations

from datetime import datetime

from smslocker.settings import GuardSettings
from smslocker.store.db import Database

from .alerts import AlertView
from .counters import Counters
from .queries import ACCOUNT_COUNTS, count_parameters
from .standing import Trigger, act

RENT_BURST = "rent_burst"
ACCOUNTS_PER_IP = "accounts_per_ip"
EMPTY_ENDINGS = "empty_endings"


async def after_rent(
    db: Database,
    counters: Counters,
    settings: GuardSettings,
    *,
    account_id: int,
    ip: str | None,
    rental_id: str,
    now: datetime,
    counts: tuple[int, int] | None = None,
) -> list[AlertView]:
    """Count the new rental in the windows; act on the account if a rule fires (the
    accounts-per-IP rule is :func:`account_seen`'s, for every call, rents included).

    ``counts``: (``burst_rentals``, ``empty_endings``) as read before the rent by
    :func:`~.limits.check_rent` ``(with_counts=True)`` (the new rental then is
    one more in the burst window); read now when not given.
    """
    if not settings.rules_enabled:
        return []
    triggers: list[Trigger] = []
    moment = now.timestamp()
    burst, empty = settings.rent_burst, settings.empty_endings
    if counts is not None:
        recent, endings = counts[0] + 1, counts[1]
    else:
        recent, endings = await _account_counts(db, settings, account_id, now)
    if burst.enabled:
        from_ip = 0
        if ip is not None:
            from_ip = await counters.hit(f"rents:{ip}", burst.window_s, moment, rental_id)
        if recent >= burst.count:
            evidence = {"rentals": recent, "window_s": burst.window_s, "by": "account"}
            triggers.append(Trigger(RENT_BURST, account_id, ip, evidence))
        elif from_ip >= burst.count:
            evidence = {"rentals": from_ip, "window_s": burst.window_s, "by": "ip"}
            triggers.append(Trigger(RENT_BURST, account_id, ip, evidence))
    if empty.enabled and endings >= empty.count:
        evidence = {"empty_endings": endings, "window_s": empty.window_s}
        triggers.append(Trigger(EMPTY_ENDINGS, account_id, ip, evidence))
    return await _act_on(db, settings, triggers, now)


async def account_seen(
    db: Database,
    counters: Counters,
    settings: GuardSettings,
    *,
    account_id: int,
    ip: str,
    now: datetime,
) -> list[AlertView]:
    """A key of ``account_id`` was used from ``ip``: count the account among the
    address's; act on it if the address has too many."""
    if not settings.rules_enabled or not settings.accounts_per_ip.enabled:
        return []
    trigger = await _per_ip(counters, settings, account_id, ip, now.timestamp())
    return [] if trigger is None else await _act_on(db, settings, [trigger], now)


async def _per_ip(
    counters: Counters, settings: GuardSettings, account_id: int, ip: str, moment: float
) -> Trigger | None:
    rule = settings.accounts_per_ip
    accounts = await counters.hit(f"accounts:{ip}", rule.window_s, moment, str(account_id))
    if accounts < rule.count:
        return None
    evidence = {"accounts": accounts, "window_s": rule.window_s}
    return Trigger(ACCOUNTS_PER_IP, account_id, ip, evidence)


async def after_end(
    db: Database, settings: GuardSettings, *, account_id: int, ip: str | None, now: datetime
) -> list[AlertView]:
    """A rental of the account ended: check the empty-endings rule."""
    if not settings.rules_enabled:
        return []
    rule = settings.empty_endings
    if not rule.enabled:
        return []
    _recent, endings = await _account_counts(db, settings, account_id, now)
    if endings < rule.count:
        return []
    evidence = {"empty_endings": endings, "window_s": rule.window_s}
    return await _act_on(db, settings, [Trigger(EMPTY_ENDINGS, account_id, ip, evidence)], now)


async def _act_on(
    db: Database, settings: GuardSettings, triggers: list[Trigger], now: datetime
) -> list[AlertView]:
    alerts = []
    for trigger in triggers:
        alert = await act(db, settings, trigger, now)
        if alert is not None:
            alerts.append(alert)
    return alerts


async def _account_counts(
    db: Database, settings: GuardSettings, account_id: int, now: datetime
) -> tuple[int, int]:
    parameters = {"account": account_id, **count_parameters(settings, now)}
    async with db.read() as connection:
        row = (await connection.execute(ACCOUNT_COUNTS, parameters)).one()
    return int(row.burst_rentals or 0), int(row.empty_endings or 0)


__all__ = [
    "ACCOUNTS_PER_IP",
    "EMPTY_ENDINGS",
    "RENT_BURST",
    "account_seen",
    "after_end",
    "after_rent",
]
