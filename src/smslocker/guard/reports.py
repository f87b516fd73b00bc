"""Renter feedback: "this number did not work" for one of my rentals.

A report (one per rental) marks the rental's (number, service) pair as failing, with
:func:`smslocker.pool.tags.mark_failing_in`: the number is never offered for that
service again until an operator clears it. When ``failures_to_quarantine`` *distinct
accounts* have reported the number (any service), it goes to QUARANTINE for
``policy.quarantine_s`` and an alert is raised: a number that fails for everyone is the
number's fault, not one service's.

Reports cannot be used to burn the pool: one per rental, ``reports_per_hour`` per
account (:class:`~.limits.RateLimited`), the pair marking only hides the number from one
service, and quarantine takes several accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import Connection, func, insert, select

from smslocker.pool.lifecycle import NumberEvent, NumberState
from smslocker.pool.tags import mark_failing_in
from smslocker.pool.transitions import apply_event
from smslocker.rentals.errors import RentalNotFound
from smslocker.settings import GuardSettings, PolicySettings
from smslocker.store.db import Database
from smslocker.store.models import Number, Rental, RentalReport

from . import audit
from .alerts import AlertView, raise_alert
from .limits import HOUR, REPORT_RATE, RateLimited

REPORTED_FAILING = "reported_failing"
QUARANTINE_NUMBER = "quarantine_number"


class Reason(StrEnum):
    NO_CODE = "no_code"
    NUMBER_REJECTED = "number_rejected"
    WRONG_MESSAGE = "wrong_message"


class AlreadyReported(Exception):
    """The rental was reported already (one report per rental)."""


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    rental_id: str
    number: str
    service: str | None
    reason: str
    created_at: datetime
    marked_failing: bool
    reporters: int
    quarantined: bool
    alert: AlertView | None

    def as_json(self) -> dict[str, Any]:
        return {
            "rental_id": self.rental_id,
            "number": self.number,
            "service": self.service,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "marked_failing": self.marked_failing,
            "quarantined": self.quarantined,
        }


async def report(
    db: Database,
    settings: GuardSettings,
    policy: PolicySettings,
    *,
    account_id: int,
    rental_id: str,
    reason: Reason,
    now: datetime,
    actor: str,
) -> ReportOutcome:
    """Record the account's report on its rental ``rental_id`` and act on it.

    Raises :class:`~smslocker.rentals.RentalNotFound` (also for another account's
    rental), :class:`AlreadyReported`, :class:`~.limits.RateLimited`.
    """
    return await db.run_write(
        partial(
            _report,
            settings=settings,
            policy=policy,
            account_id=account_id,
            rental_id=rental_id,
            reason=reason,
            now=now,
            actor=actor,
        )
    )


def _report(
    connection: Connection,
    settings: GuardSettings,
    policy: PolicySettings,
    account_id: int,
    rental_id: str,
    reason: Reason,
    now: datetime,
    actor: str,
) -> ReportOutcome:
    rental = connection.execute(
        select(Rental.number_id, Rental.number, Rental.service).where(
            Rental.id == rental_id, Rental.account_id == account_id
        )
    ).first()
    if rental is None:
        raise RentalNotFound(f"no rental {rental_id}")
    if connection.scalar(select(RentalReport.rental_id).where(RentalReport.rental_id == rental_id)):
        raise AlreadyReported(f"rental {rental_id} was reported already")
    _check_rate(connection, settings, account_id, now)
    # Lock order as everywhere: the number row before anything about the number.
    state = connection.scalar(
        select(Number.state).where(Number.id == rental.number_id).with_for_update()
    )
    connection.execute(
        insert(RentalReport).values(
            rental_id=rental_id,
            account_id=account_id,
            number_id=rental.number_id,
            service=rental.service,
            reason=reason.value,
            created_at=now,
        )
    )
    if rental.service:
        mark_failing_in(connection, rental.number_id, rental.service, now)
    reporters = int(
        connection.scalar(
            select(func.count(func.distinct(RentalReport.account_id))).where(
                RentalReport.number_id == rental.number_id
            )
        )
        or 0
    )
    alert = None
    quarantined = False
    if reporters >= settings.failures_to_quarantine and state not in (
        NumberState.QUARANTINE.value,
        NumberState.RETIRED.value,
    ):
        until = now + timedelta(seconds=policy.quarantine_s)
        quarantined = bool(
            apply_event(
                connection,
                NumberEvent.QUARANTINE,
                now,
                Number.id == rental.number_id,
                state_until=until,
            )
        )
        alert = raise_alert(
            connection,
            rule=REPORTED_FAILING,
            action=QUARANTINE_NUMBER,
            account_id=None,
            ip=None,
            evidence={"number": rental.number, "reporters": reporters, "until": until},
            now=now,
        )
    audit.append(
        connection,
        audit.RENTAL_REPORTED,
        at=now,
        actor=actor,
        account_id=account_id,
        target=rental_id,
        details={
            "number": rental.number,
            "service": rental.service,
            "reason": reason.value,
            "quarantined": quarantined,
        },
    )
    return ReportOutcome(
        rental_id,
        rental.number,
        rental.service,
        reason.value,
        now,
        bool(rental.service),
        reporters,
        quarantined,
        alert,
    )


def _check_rate(
    connection: Connection, settings: GuardSettings, account_id: int, now: datetime
) -> None:
    limit = settings.reports_per_hour
    recent = connection.scalars(
        select(RentalReport.created_at)
        .where(RentalReport.account_id == account_id, RentalReport.created_at > now - HOUR)
        .order_by(RentalReport.created_at.desc())
        .limit(limit)
    ).all()
    if len(recent) >= limit:
        frees_at = recent[-1] + HOUR
        raise RateLimited(
            REPORT_RATE,
            max(1.0, (frees_at - now).total_seconds()),
            f"at most {limit} reports per hour",
        )


__all__ = ["AlreadyReported", "Reason", "ReportOutcome", "report"]
