"""An account's standing: the escalating actions of the abuse rules, and the operator's.

Theory of operation: when a rule fires for an account (:func:`act`), the account moves
one step up the ladder

    1 slow down  ->  2 require verification  ->  3 suspend

unless it was acted on less than ``action_cooldown_s`` ago (the previous action is still
sinking in: no new step, no new alert). A step more than ``escalation_window_s`` after
the previous one starts the ladder again at 1. Each step is one transaction: the
account's change, the alert with its evidence, and the audit entry.

- slow down: ``slow_until = now + slow_down_s`` (:mod:`.limits` enforces it);
- require verification: the tier drops to ``unverified`` (the smallest quota) and
  ``verification_required`` is set until an operator verifies the account;
- suspend: the account's status becomes ``suspended``; its keys get 403.

The operator's moves (:func:`verify`, :func:`set_tier`, :func:`set_status`) are
audited the same way. They leave ``level`` as it is: an account that misbehaves again
within the escalation window takes the next step, not the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, select, update

from smslocker.rentals.errors import AccountNotFound, InvalidRequest
from smslocker.settings import GuardSettings
from smslocker.store.db import Database
from smslocker.store.models import Account, GuardAccountState
from smslocker.store.sql import upsert

from . import audit
from .alerts import AlertView, raise_alert
from .limits import UNVERIFIED

SLOW_DOWN = "slow_down"
REQUIRE_VERIFICATION = "require_verification"
SUSPEND = "suspend"
#: The ladder: level n takes ACTIONS[n - 1].
ACTIONS = (SLOW_DOWN, REQUIRE_VERIFICATION, SUSPEND)
GUARD_ACTOR = "guard"
_MAX_TIER = 20


@dataclass(frozen=True, slots=True)
class Trigger:
    """A rule fired: which, for whom, and why (the evidence goes into the alert)."""

    rule: str
    account_id: int
    ip: str | None
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Standing:
    account_id: int
    tier: str
    status: str
    level: int
    last_action_at: datetime | None
    slow_until: datetime | None
    verification_required: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "tier": self.tier,
            "status": self.status,
            "level": self.level,
            "last_action_at": _iso(self.last_action_at),
            "slow_until": _iso(self.slow_until),
            "verification_required": self.verification_required,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _ensure_state(connection: Connection, account_id: int, now: datetime) -> None:
    statement = upsert(connection, GuardAccountState).values(
        account_id=account_id, level=0, verification_required=False, updated_at=now
    )
    connection.execute(statement.on_conflict_do_nothing(index_elements=["account_id"]))


def _standing(connection: Connection, account_id: int, *, lock: bool) -> Standing:
    query = (
        select(
            Account.id,
            Account.tier,
            Account.status,
            GuardAccountState.level,
            GuardAccountState.last_action_at,
            GuardAccountState.slow_until,
            GuardAccountState.verification_required,
        )
        # Locking needs the inner join (PostgreSQL refuses FOR UPDATE on the nullable
        # side of an outer join); the caller made sure the state row exists then.
        .join(
            GuardAccountState,
            GuardAccountState.account_id == Account.id,
            isouter=not lock,
        )
        .where(Account.id == account_id)
    )
    if lock:
        query = query.with_for_update(of=GuardAccountState)
    row = connection.execute(query).first()
    if row is None:
        raise AccountNotFound(f"no account {account_id}")
    return Standing(
        row.id,
        row.tier,
        row.status,
        row.level or 0,
        row.last_action_at,
        row.slow_until,
        bool(row.verification_required),
    )


async def standing_of(db: Database, account_id: int) -> Standing:
    async with db.read() as connection:
        return await connection.run_sync(partial(_standing, account_id=account_id, lock=False))


# --------------------------------------------------------------------------- the rules' steps


async def act(
    db: Database, settings: GuardSettings, trigger: Trigger, now: datetime
) -> AlertView | None:
    """Take the account's next step for ``trigger``; None when it is in its cooldown."""
    return await db.run_write(partial(_act, settings=settings, trigger=trigger, now=now))


def _act(
    connection: Connection, settings: GuardSettings, trigger: Trigger, now: datetime
) -> AlertView | None:
    account_id = trigger.account_id
    _ensure_state(connection, account_id, now)
    before = _standing(connection, account_id, lock=True)
    last = before.last_action_at
    if last is not None and now - last < timedelta(seconds=settings.action_cooldown_s):
        return None
    recent = last is not None and now - last < timedelta(seconds=settings.escalation_window_s)
    level = min((before.level if recent else 0) + 1, len(ACTIONS))
    action = ACTIONS[level - 1]
    state: dict[str, Any] = {"level": level, "last_action_at": now, "updated_at": now}
    account: dict[str, Any] = {}
    if action == SLOW_DOWN:
        state["slow_until"] = now + timedelta(seconds=settings.slow_down_s)
    elif action == REQUIRE_VERIFICATION:
        state["verification_required"] = True
        account["tier"] = UNVERIFIED
    else:
        account["status"] = "suspended"
    connection.execute(
        update(GuardAccountState).where(GuardAccountState.account_id == account_id).values(**state)
    )
    if account:
        connection.execute(update(Account).where(Account.id == account_id).values(**account))
    evidence = {
        **trigger.evidence,
        "level": level,
        "previous": {"tier": before.tier, "status": before.status, "level": before.level},
    }
    alert = raise_alert(
        connection,
        rule=trigger.rule,
        action=action,
        account_id=account_id,
        ip=trigger.ip,
        evidence=evidence,
        now=now,
    )
    audit.append(
        connection,
        audit.RULE_ACTION,
        at=now,
        actor=GUARD_ACTOR,
        account_id=account_id,
        target=f"account:{account_id}",
        details={"rule": trigger.rule, "action": action, "alert_id": alert.id, **account},
    )
    return alert


# --------------------------------------------------------------------------- the operator's


def checked_tier(tier: str) -> str:
    tier = tier.strip()
    if not 1 <= len(tier) <= _MAX_TIER:
        raise InvalidRequest(f"a tier is 1 to {_MAX_TIER} characters")
    return tier


async def set_tier(
    db: Database, account_id: int, tier: str, now: datetime, *, actor: str, verify: bool = False
) -> Standing:
    """Set the account's tier (``verify``: and clear "verification required"); audited."""
    tier = checked_tier(tier)
    return await db.run_write(
        partial(
            _set, account_id=account_id, values={"tier": tier}, verify=verify, now=now, actor=actor
        )
    )


async def set_status(
    db: Database, account_id: int, status: str, now: datetime, *, actor: str
) -> Standing:
    """Suspend (``suspended``) or reinstate (``active``) the account; audited."""
    if status not in ("active", "suspended"):
        raise InvalidRequest("status: active or suspended")
    return await db.run_write(
        partial(
            _set,
            account_id=account_id,
            values={"status": status},
            verify=False,
            now=now,
            actor=actor,
        )
    )


def _set(
    connection: Connection,
    account_id: int,
    values: dict[str, str],
    verify: bool,
    now: datetime,
    actor: str,
) -> Standing:
    before = _standing(connection, account_id, lock=False)
    connection.execute(update(Account).where(Account.id == account_id).values(**values))
    if verify:
        _ensure_state(connection, account_id, now)
        connection.execute(
            update(GuardAccountState)
            .where(GuardAccountState.account_id == account_id)
            .values(verification_required=False, updated_at=now)
        )
    for name, value in values.items():
        old = getattr(before, name)
        if old != value or verify:
            action = audit.ACCOUNT_TIER_CHANGED if name == "tier" else audit.ACCOUNT_STATUS_CHANGED
            audit.append(
                connection,
                action,
                at=now,
                actor=actor,
                account_id=account_id,
                target=f"account:{account_id}",
                details={"from": old, "to": value, "verified": verify},
            )
    return _standing(connection, account_id, lock=False)


__all__ = [
    "ACTIONS",
    "REQUIRE_VERIFICATION",
    "SLOW_DOWN",
    "SUSPEND",
    "Standing",
    "Trigger",
    "act",
    "checked_tier",
    "set_status",
    "set_tier",
    "standing_of",
]
