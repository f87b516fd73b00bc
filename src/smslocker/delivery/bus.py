"""The bus: real-time fan-out of events to whoever watches a channel.

Theory of operation: a publisher calls ``await bus.publish("rental:42", event)``; every
subscription to ``"rental:42"`` open at that moment gets ``("rental:42", event)``.
Channels are plain strings (``"rental:<id>"``, ``"account:<id>"``); events are JSON
objects (str keys; str, int, float, bool, None, list and dict values).
``await bus.publish_many([(channel, event), ...])`` publishes several in that order, as
one operation where the bus can (on Redis one round trip: a batch's events go together).

The bus is the fast path, not the record: routing writes the inbox row first and then
publishes. So the bus promises at-most-once delivery, in publish order per channel (for
publishes that follow one another), and that a slow subscriber never holds up a
publisher or another subscriber:

- Each subscription has a bounded queue (``maxsize`` events). When an event arrives and
  the queue is full, the oldest event is dropped and an overflow marker takes its place
  at the head: ``("", {"type": "overflow", "dropped": n, "channels": [...]})``. One
  marker counts every drop until it is read, and stands exactly where the gap is: after
  it come the newest events, in order. Dropping the oldest, rather than closing the
  subscription, suits what subscribers are for: a renter's WebSocket behind a slow link
  wants the latest code, and the marker tells it to re-read the inbox for what it missed.
- :class:`~.redis_bus.RedisBus` delivers ``("", {"type": "reconnected"})`` to each open subscription
  once its link to Redis, lost, is back and subscribed again: whatever was published in
  between is lost (Redis pub/sub keeps nothing).

Both markers come on channel ``""`` (:data:`MARKER_CHANNEL`: they concern the whole
subscription) and mean the same to a consumer: "you may have missed events; re-read".

:class:`InProcessBus` (the embedded default) hands the very same dict to every
subscriber, without copying or encoding: treat events as read-only. :class:`~.redis_bus.RedisBus`
carries JSON through Redis pub/sub so that an event published by a gateway process
reaches a WebSocket held by any API process; each process keeps one pub/sub connection,
shared by all its subscriptions and fanned out locally, and reconnects when it drops.

Errors::

    BusError
    ├── BusClosed        publish or subscribe on a closed bus
    └── BusUnavailable   Redis cannot be reached (publish), or did not confirm a
                         subscription in time (entering a subscription)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from smslocker.log import get_logger

log = get_logger(__name__)

Event = dict[str, Any]

#: The channel that markers come on: they concern a whole subscription.
MARKER_CHANNEL = ""
#: Marker type: the subscription's queue was full and its oldest events were dropped.
OVERFLOW = "overflow"
#: Marker type: the link to Redis was lost and is back; events published meanwhile are lost.
RECONNECTED = "reconnected"

#: Events a subscription holds before it starts dropping the oldest.
DEFAULT_QUEUE_SIZE = 1024


class BusError(Exception):
    """Base class of the bus's errors."""


class BusClosed(BusError):
    """The bus was closed."""


class BusUnavailable(BusError):
    """Redis could not be reached, or did not confirm a subscription in time."""


class Bus(Protocol):
    """Real-time fan-out of events to the subscribers of a channel. See the module docstring."""

    async def publish(self, channel: str, event: Event) -> None:
        """Hand ``event`` to every subscription to ``channel``; never waits for a subscriber."""
        ...

    async def publish_many(self, items: Sequence[tuple[str, Event]]) -> None:
        """:meth:`publish` each ``(channel, event)`` in the order given, as one operation
        where the bus can (Redis: one round trip). On an error, a prefix of ``items`` may
        have been published."""
        ...

    def subscribe(self, *channels: str) -> Subscription:
        """A subscription to ``channels``: enter it (``async with``), then iterate it."""
        ...

    async def close(self) -> None:
        """End every subscription (their iteration stops) and release connections."""
        ...


def open_bus(redis_url: str | None) -> Bus:
    """The bus for this deployment: Redis when a URL is configured, else in-process."""
    if redis_url:
        from .redis_bus import RedisBus  # redis-py's import only where Redis is used

        return RedisBus(redis_url)
    return InProcessBus()


class Subscription:
    """Events of some channels, as ``(channel, event)``, from a bounded queue.

    ``async with bus.subscribe("rental:42") as subscription:`` receives what is published
    after the ``async with`` is entered, until it is left; ``async for channel, event in
    subscription`` reads them, and ends when the bus is closed (after what was queued).
    One task reads a subscription; it can be entered once.
    """

    def __init__(self, hub: _LocalFanout, channels: tuple[str, ...], maxsize: int) -> None:
        self.channels = channels
        #: Events dropped because the queue was full, over the subscription's life.
        self.dropped = 0
        self._hub = hub
        self._maxsize = maxsize
        self._queue: deque[tuple[str, Event]] = deque()
        # The overflow marker while it stands unread at the head of the queue; it is not
        # counted in ``maxsize`` so that one drop makes room for one event.
        self._overflow: Event | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._entered = False
        self._open = False  # entered, attached, not yet left
        self._ended = False

    async def __aenter__(self) -> Self:
        if self._entered:
            raise RuntimeError("a subscription can be entered only once")
        self._entered = True
        await self._hub._attach(self)
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open = False
        self._end()
        self._queue.clear()
        self._overflow = None
        await self._hub._detach(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> tuple[str, Event]:
        if not self._entered:
            raise RuntimeError("enter the subscription (async with) before reading it")
        while not self._queue:
            if self._ended:
                raise StopAsyncIteration
            if self._waiter is not None:
                raise RuntimeError("another task is already reading this subscription")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._queue.popleft()
        if item[1] is self._overflow:
            self._overflow = None
        return item

    def _put(self, channel: str, event: Event) -> None:
        if self._ended:
            return
        if len(self._queue) - (self._overflow is not None) >= self._maxsize:
            self._drop_oldest()
        self._queue.append((channel, event))
        self._wake()

    def _drop_oldest(self) -> None:
        marker = self._overflow
        if marker is None:
            marker = self._overflow = {"type": OVERFLOW, "dropped": 0, "channels": []}
        else:
            self._queue.popleft()  # the marker itself: it goes back to the head below
        channel, _ = self._queue.popleft()
        # A "reconnected" marker dropped here says nothing the overflow marker does not.
        if channel != MARKER_CHANNEL:
            marker["dropped"] += 1
            self.dropped += 1
            if channel not in marker["channels"]:
                marker["channels"].append(channel)
        self._queue.appendleft((MARKER_CHANNEL, marker))

    def _end(self) -> None:
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _LocalFanout:
    """What both buses share: this process's subscriptions, by channel."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._maxsize = maxsize
        self._subscriptions: dict[str, dict[Subscription, None]] = {}  # ordered sets
        self._closed = False

    def subscribe(self, *channels: str, maxsize: int | None = None) -> Subscription:
        """A subscription to ``channels`` (see :class:`Subscription`), queueing up to
        ``maxsize`` events (default: the bus's)."""
        if self._closed:
            raise BusClosed("the bus is closed")
        if not channels:
            raise ValueError("subscribe to at least one channel")
        for channel in channels:
            _check_channel(channel)
        size = self._maxsize if maxsize is None else maxsize
        if size < 1:
            raise ValueError("maxsize must be at least 1")
        return Subscription(self, tuple(dict.fromkeys(channels)), size)

    def subscribers(self, channel: str) -> int:
        """How many subscriptions of this process are open on ``channel``."""
        return len(self._subscriptions.get(channel, ()))

    async def _attach(self, subscription: Subscription) -> None:
        self._register(subscription)

    async def _detach(self, subscription: Subscription) -> None:
        self._unregister(subscription)

    def _register(self, subscription: Subscription) -> list[str]:
        """Add ``subscription``; return its channels that had no subscriber here before."""
        if self._closed:
            raise BusClosed("the bus is closed")
        new = []
        for channel in subscription.channels:
            subscribers = self._subscriptions.setdefault(channel, {})
            if not subscribers:
                new.append(channel)
            subscribers[subscription] = None
        return new

    def _unregister(self, subscription: Subscription) -> list[str]:
        """Remove ``subscription``; return the channels left with no subscriber here."""
        gone = []
        for channel in subscription.channels:
            subscribers = self._subscriptions.get(channel)
            if subscribers is None or subscription not in subscribers:
                continue
            del subscribers[subscription]
            if not subscribers:
                del self._subscriptions[channel]
                gone.append(channel)
        return gone

    def _fan_out(self, channel: str, event: Event) -> None:
        for subscription in self._subscriptions.get(channel, ()):
            subscription._put(channel, event)

    def _open_subscriptions(self) -> list[Subscription]:
        found: dict[Subscription, None] = {}
        for subscribers in self._subscriptions.values():
            found.update(subscribers)
        return list(found)

    def _end_all(self) -> None:
        self._closed = True
        for subscription in self._open_subscriptions():
            subscription._end()


def _check_channel(channel: str) -> None:
    if not isinstance(channel, str) or not channel:
        raise ValueError(f"a channel is a non-empty string, not {channel!r}")


class InProcessBus(_LocalFanout):
    """The bus inside one event loop: ``publish`` puts the event itself (no copy, no
    encoding) in every subscriber's queue and returns without ever waiting."""

    def __init__(self, *, maxsize: int = DEFAULT_QUEUE_SIZE) -> None:
        super().__init__(maxsize)

    async def publish(self, channel: str, event: Event) -> None:
        if self._closed:
            raise BusClosed("the bus is closed")
        _check_channel(channel)
        self._fan_out(channel, event)

    async def publish_many(self, items: Sequence[tuple[str, Event]]) -> None:
        for channel, _event in items:
            _check_channel(channel)  # all of them before any goes out, as on Redis
        for channel, event in items:
            await self.publish(channel, event)

    async def close(self) -> None:
        self._end_all()
