"""Getting deliver_sm to bound ESMEs, and again until they are acked (SMPP.md §5.1).

Theory of operation: deliveries wait in one FIFO queue. :meth:`Dispatcher.pump`
hands each to a bound receiver or transceiver, round robin, skipping sessions
whose address_range does not match the destination and sessions whose window
is full; what no session can take stays queued, in order, until one binds or
frees a slot. Like a real SMSC, a deliver_sm that is not acked with status 0
— a negative ack, no answer in time, or the connection lost first — goes back
to the queue after ``redelivery_delay``, to whichever session is bound then.
ESME_RTHROTTLED and ESME_RX_T_APPN say "slow down", so their wait doubles
with each one in a row. ESME_RX_P_APPN and ESME_RX_R_APPN are permanent: the
part fails and is not retried.

Pumps are scheduled with ``call_soon`` rather than run where a slot frees up:
connections then never have a deliver_sm queued in the middle of writing
their answers, and a burst of acks costs one pump.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from smslocker.log import get_logger
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import status_name

from .messages import Delivery, DeliveryState, Message

log = get_logger(__name__)

PERMANENT_FAILURES = frozenset({S.ESME_RX_P_APPN, S.ESME_RX_R_APPN})
BACKOFF_FAILURES = frozenset({S.ESME_RTHROTTLED, S.ESME_RX_T_APPN})


class Receiver(Protocol):
    """A bound receiver/transceiver connection, as the dispatcher sees it."""

    @property
    def name(self) -> str: ...

    @property
    def system_id(self) -> str: ...

    def accepts(self, destination: str) -> bool:
        """Whether the bind's address_range covers ``destination``."""
        ...

    def can_deliver(self) -> bool:
        """Bound, healthy, and with a free slot in its window."""
        ...

    def deliver(self, delivery: Delivery) -> None:
        """Queue the deliver_sm on the session (written by :meth:`flush`)."""
        ...

    def flush(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    redelivery_delay: float = 1.0
    max_redelivery_delay: float = 30.0
    max_attempts: int | None = None
    """Attempts per part before it fails; None retries for ever."""

    def delay(self, backoff_failures: int) -> float:
        if backoff_failures <= 0:
            return self.redelivery_delay
        delay = self.redelivery_delay * 2.0 ** (backoff_failures - 1)
        return min(delay, self.max_redelivery_delay)


@dataclass(slots=True)
class DeliveryStats:
    sent: int = 0
    acked: int = 0
    nacked: int = 0
    timeouts: int = 0
    lost: int = 0
    redeliveries: int = 0
    failed: int = 0


class Dispatcher:
    """The queue of deliveries and the bound receivers. See the module docstring."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.stats = DeliveryStats()
        self._loop = asyncio.get_running_loop()
        self._ready: deque[Delivery] = deque()
        self._receivers: list[Receiver] = []
        self._turn = 0
        self._pump_scheduled = False
        self._waiting: dict[Delivery, asyncio.TimerHandle] = {}

    # -- receivers ---------------------------------------------------------------

    def add_receiver(self, receiver: Receiver) -> None:
        if receiver not in self._receivers:
            self._receivers.append(receiver)
            self.schedule_pump()

    def remove_receiver(self, receiver: Receiver) -> None:
        if receiver in self._receivers:
            self._receivers.remove(receiver)

    @property
    def receivers(self) -> list[Receiver]:
        return list(self._receivers)

    # -- queue ---------------------------------------------------------------------

    def enqueue(self, deliveries: Iterable[Delivery]) -> None:
        self._ready.extend(deliveries)
        self.schedule_pump()

    @property
    def queued(self) -> int:
        """Deliveries waiting: for a session, or for their redelivery delay."""
        return sum(1 for d in self._ready if d.state is DeliveryState.QUEUED) + len(self._waiting)

    def schedule_pump(self) -> None:
        if not self._pump_scheduled:
            self._pump_scheduled = True
            self._loop.call_soon(self.pump)

    def pump(self) -> None:
        """Hand queued deliveries to receivers that can take them."""
        self._pump_scheduled = False
        ready = self._ready
        if not ready:
            return
        available = [receiver for receiver in self._receivers if receiver.can_deliver()]
        touched: list[Receiver] = []
        skipped: list[Delivery] = []
        while ready and available:
            delivery = ready.popleft()
            if delivery.state is not DeliveryState.QUEUED:
                continue  # cancelled while it waited
            receiver = self._choose(delivery.message, available)
            if receiver is None:
                skipped.append(delivery)
                continue
            delivery.state = DeliveryState.IN_FLIGHT
            delivery.attempts += 1
            if delivery.attempts > 1:
                self.stats.redeliveries += 1
            self.stats.sent += 1
            receiver.deliver(delivery)
            if receiver not in touched:
                touched.append(receiver)
            if not receiver.can_deliver():
                available.remove(receiver)
        ready.extendleft(reversed(skipped))
        for receiver in touched:
            receiver.flush()

    def _choose(self, message: Message, available: list[Receiver]) -> Receiver | None:
        def fits(receiver: Receiver) -> bool:
            return (
                message.system_id is None or receiver.system_id == message.system_id
            ) and receiver.accepts(message.destination)

        preferred = message.preferred
        for receiver in available:
            if receiver is preferred and fits(receiver):
                return receiver
        count = len(available)
        for offset in range(count):
            receiver = available[(self._turn + offset) % count]
            if fits(receiver):
                self._turn = (self._turn + offset + 1) % max(count, 1)
                return receiver
        return None

    # -- outcomes ------------------------------------------------------------------

    def answered(self, delivery: Delivery, status: int) -> None:
        """The ESME answered the deliver_sm with ``status``."""
        delivery.last_status = status
        if delivery.state is not DeliveryState.IN_FLIGHT:
            return
        if status == S.ESME_ROK:
            self.stats.acked += 1
            delivery.state = DeliveryState.DELIVERED
            delivery.last_error = None
            self._settled(delivery.message)
            return
        self.stats.nacked += 1
        delivery.last_error = status_name(status)
        if status in PERMANENT_FAILURES:
            self._fail(delivery)
        else:
            self._retry(delivery, backoff=status in BACKOFF_FAILURES)

    def unanswered(self, delivery: Delivery, reason: str) -> None:
        """No answer: ``reason`` is "response timeout" or "connection lost"."""
        if delivery.state is not DeliveryState.IN_FLIGHT:
            return
        if reason == "response timeout":
            self.stats.timeouts += 1
        else:
            self.stats.lost += 1
        delivery.last_error = reason
        self._retry(delivery, backoff=False)

    def cancel(self, delivery: Delivery) -> bool:
        """Withdraw a delivery that has not gone out; False if it is in flight or done."""
        if delivery.state is not DeliveryState.QUEUED:
            return False
        delivery.state = DeliveryState.CANCELLED
        handle = self._waiting.pop(delivery, None)
        if handle is not None:
            handle.cancel()
        self._settled(delivery.message)
        return True

    def _retry(self, delivery: Delivery, *, backoff: bool) -> None:
        max_attempts = self.policy.max_attempts
        if max_attempts is not None and delivery.attempts >= max_attempts:
            self._fail(delivery)
            return
        delivery.backoff_failures = delivery.backoff_failures + 1 if backoff else 0
        delivery.state = DeliveryState.QUEUED
        delay = self.policy.delay(delivery.backoff_failures)
        self._waiting[delivery] = self._loop.call_later(delay, self._requeue, delivery)

    def _requeue(self, delivery: Delivery) -> None:
        self._waiting.pop(delivery, None)
        if delivery.state is DeliveryState.QUEUED:
            self.enqueue((delivery,))

    def _fail(self, delivery: Delivery) -> None:
        self.stats.failed += 1
        delivery.state = DeliveryState.FAILED
        log.info(
            "simulator.delivery_failed",
            message=delivery.message.id,
            part=delivery.part,
            error=delivery.last_error,
        )
        self._settled(delivery.message)

    def _settled(self, message: Message) -> None:
        if message.final and message.done_at is None:
            message.done_at = datetime.now(UTC)
            if message.on_final is not None:
                message.on_final(message)

    def close(self) -> None:
        """Stop the redelivery timers (the simulator is stopping)."""
        for handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
