"""The webhook worker: takes due deliveries from the outbox and POSTs them, signed.

Theory of operation: :meth:`WebhookWorker.run_once` claims up to ``batch_size`` due
deliveries (:func:`~.outbox.claim_due`: a lease, so a crashed worker's claims come back
by themselves, and ``SKIP LOCKED`` on PostgreSQL, so several workers share the work),
POSTs them concurrently with a timeout, and records every attempt in one transaction
(:func:`~.outbox.record_attempts`). Each POST carries the Standard Webhooks headers
(:mod:`.signing`), signed with the endpoint's secret and, during a rotation, the
previous one too; ``webhook-id`` is the delivery's id, the same on every retry, so the
receiver can drop what it already processed.

What an answer means:

- 2xx: delivered.
- 410 Gone: the receiver says the endpoint is gone for good: the delivery fails and the
  endpoint is disabled (``disabled_reason``), so nothing more is sent until its owner
  enables it again.
- anything else (another status, a redirect, a timeout, a refused connection): retried
  after :data:`RETRY_SCHEDULE` (the delay after the n-th failed attempt, with +-20%
  jitter so that a receiver coming back is not hit by every retry at once); after the
  last one the delivery fails. The owner can replay it (:func:`~.outbox.replay_delivery`).

Every attempt counts in ``smslocker_webhook_attempts_total{outcome}``: ``delivered``,
``retry``, ``failed`` (gave up) or ``gone`` (410, endpoint disabled).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import httpx

from smslocker import __version__
from smslocker.log import get_logger
from smslocker.metrics import WEBHOOK_ATTEMPTS
from smslocker.store import Database

from .egress import webhook_client
from .outbox import (
    DELIVERED,
    FAILED,
    PENDING,
    AttemptOutcome,
    Claimed,
    any_due,
    claim_due,
    record_attempts,
)
from .signing import webhook_headers

if TYPE_CHECKING:
    from smslocker.platform import Platform

log = get_logger(__name__)

#: The delay before the next attempt after the 1st, 2nd, ... failed one: over a day in
#: all, so a receiver down for a night still gets everything. Then the delivery fails.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
#: Attempts a delivery gets before it fails: the first and one per retry.
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
#: Jitter: each retry delay is the schedule's times a factor in [1 - JITTER, 1 + JITTER].
JITTER = 0.2
#: The longest error text kept per attempt.
MAX_ERROR_LENGTH = 500

USER_AGENT = f"smslocker-webhooks/{__version__}"


def retry_delay(failed_attempts: int, rng: random.Random) -> timedelta | None:
    """The wait after ``failed_attempts`` failures in a row; None: give up."""
    if not 1 <= failed_attempts <= len(RETRY_SCHEDULE):
        return None
    return RETRY_SCHEDULE[failed_attempts - 1] * rng.uniform(1 - JITTER, 1 + JITTER)


def judge(
    claimed: Claimed,
    status_code: int | None,
    error: str | None,
    attempted_at: datetime,
    duration_ms: int,
    rng: random.Random,
) -> AttemptOutcome:
    """What becomes of a delivery after one attempt. See the module docstring."""

    def outcome(status: str, next_at: datetime, disable: str | None = None) -> AttemptOutcome:
        return AttemptOutcome(
            delivery_id=claimed.id,
            endpoint_id=claimed.endpoint_id,
            attempted_at=attempted_at,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            status=status,
            next_attempt_at=next_at,
            disable_endpoint=disable,
        )

    if status_code is not None and 200 <= status_code < 300:
        return outcome(DELIVERED, attempted_at)
    if status_code == 410:
        reason = f"the endpoint answered 410 Gone at {attempted_at.isoformat()}"
        return outcome(FAILED, attempted_at, disable=reason)
    delay = retry_delay(claimed.attempts + 1, rng)
    if delay is None:
        return outcome(FAILED, attempted_at)
    return outcome(PENDING, attempted_at + delay)


class WebhookWorker:
    """Delivers the outbox. See the module docstring.

    ``client`` (an :class:`httpx.AsyncClient`) is for tests that swap the transport; by
    default the worker makes its own, with ``timeout`` seconds per attempt, no
    redirects followed (a redirect is a failed attempt, not a new destination) and only
    public addresses reached unless ``allow_private`` (:mod:`.egress`).
    """

    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
        batch_size: int = 50,
        concurrency: int = 16,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
        allow_private: bool = False,
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        self._db = db
        self._clock = clock
        self._owns_client = client is None
        self._client = client or webhook_client(timeout=timeout, allow_private=allow_private)
        self.timeout = timeout
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        # A claim outlives the slowest attempt of its batch with room to record it.
        self.lease = timedelta(seconds=timeout * 2 + 30)
        self._slots = asyncio.Semaphore(concurrency)
        self._rng = rng or random.Random()

    async def run_once(self) -> int:
        """Claim one batch of due deliveries, attempt each, record; return how many."""
        now = self._clock()
        if not await any_due(self._db, now):
            # A read first: on SQLite a claim is a write and would queue behind ingest.
            return 0
        claimed = await self._db.run_write(
            lambda connection: claim_due(connection, now, self.batch_size, self.lease)
        )
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(item) for item in claimed))
        await self._db.run_write(lambda connection: record_attempts(connection, outcomes))
        for outcome in outcomes:
            WEBHOOK_ATTEMPTS.labels(outcome=_metric_outcome(outcome)).inc()
            log.info(
                "webhook.attempt",
                delivery=outcome.delivery_id,
                endpoint=outcome.endpoint_id,
                status_code=outcome.status_code,
                error=outcome.error,
                result=outcome.status,
            )
        return len(outcomes)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a full batch is followed at once by the next."""
        while not stop.is_set():
            try:
                done = await self.run_once()
            except Exception:  # the database may be away for a while: keep trying
                log.exception("webhook.worker_failed")
                done = 0
            if done < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _attempt(self, claimed: Claimed) -> AttemptOutcome:
        async with self._slots:
            attempted_at = self._clock()
            body = claimed.payload.encode()
            headers = {
                "content-type": "application/json",
                "user-agent": USER_AGENT,
                **webhook_headers(claimed.secrets, claimed.id, int(attempted_at.timestamp()), body),
            }
            status_code, error = None, None
            started = time.perf_counter()
            try:
                # Streamed and never read: the receiver's body tells nothing we use.
                async with self._client.stream(
                    "POST", claimed.url, content=body, headers=headers
                ) as response:
                    status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.TimeoutException:
                error = f"no answer within {self.timeout:g} s"
            except Exception as failure:  # httpx's errors, or a URL it cannot use
                # Any failure is this attempt's, never the batch's: one bad endpoint must not
                # keep the others' outcomes from being recorded.
                error = f"{type(failure).__name__}: {failure}"[:MAX_ERROR_LENGTH]
            duration_ms = round((time.perf_counter() - started) * 1000)
            return judge(claimed, status_code, error, attempted_at, duration_ms, self._rng)


def _metric_outcome(outcome: AttemptOutcome) -> str:
    if outcome.status == DELIVERED:
        return "delivered"
    if outcome.disable_endpoint is not None:
        return "gone"
    return "retry" if outcome.status == PENDING else "failed"


async def run_worker(platform: Platform, stop_event: asyncio.Event) -> None:
    """The webhook worker of ``smslocker serve`` (roles ``all`` and ``worker``)."""
    worker = WebhookWorker(
        platform.db,
        platform.clock,
        allow_private=platform.settings.webhooks.allow_private_targets,
    )
    try:
        await worker.run(stop_event)
    finally:
        await worker.aclose()


__all__ = [
    "MAX_ATTEMPTS",
    "RETRY_SCHEDULE",
    "WebhookWorker",
    "judge",
    "retry_delay",
    "run_worker",
]
