"""The bus: fan-out semantics on both buses, overflow, Redis across processes and links.

What these tests prove:

- on both buses: events come in publish order per channel, to every subscription of the
  channel and to nobody else, from the moment the subscription is entered until it is
  left; a subscription to several channels tells each event's channel;
- a subscriber that does not read never holds up the publisher nor the other
  subscribers: its queue stays bounded, the oldest events are dropped, and one overflow
  marker stands where the gap is, counting it (also as a hypothesis property);
- ``InProcessBus`` hands the same event object to every subscriber (zero copy);
- ``RedisBus``: an event published by one OS process reaches subscribers in two others;
  one pub/sub connection serves all subscriptions of a process (PUBSUB NUMSUB), and the
  channel is unsubscribed when the last one leaves, also under enter/leave churn;
- ``RedisBus`` survives its connections being killed (CLIENT KILL), Redis being
  unreachable for a while (a proxy that cuts and refuses), and a link that goes silent
  (blackholed): the listener reconnects, subscribes again, and tells each open
  subscription with a ``reconnected`` marker; publishing while Redis is unreachable
  raises ``BusUnavailable``, as does entering a subscription that Redis cannot confirm.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis.asyncio as redis
from hypothesis import given
from hypothesis import strategies as st

from smslocker.delivery.bus import (
    MARKER_CHANNEL,
    OVERFLOW,
    RECONNECTED,
    BusClosed,
    BusUnavailable,
    Event,
    InProcessBus,
    Subscription,
    open_bus,
)
from smslocker.delivery.redis_bus import PIPELINE_MAX, RedisBus

pytestmark = pytest.mark.timeout(30)

PEER = Path(__file__).parent / "bus_peer.py"

#: Either bus, with what both have beyond the Bus protocol (maxsize, subscribers()).
AnyBus = InProcessBus | RedisBus


def token() -> str:
    return secrets.token_hex(4)


async def next_event(subscription: Subscription, timeout: float = 5.0) -> tuple[str, Event]:
    return await asyncio.wait_for(anext(subscription), timeout)


async def take(subscription: Subscription, count: int) -> list[tuple[str, Event]]:
    return [await next_event(subscription) for _ in range(count)]


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def make_redis_bus(redis_url: str) -> AsyncIterator[Callable[..., RedisBus]]:
    """Makes RedisBus instances, closed after the test. A test's buses share a prefix of
    their own: concurrent test runs share the Redis server."""
    prefix = f"smslocker-test:{token()}:"
    made: list[RedisBus] = []

    def make(url: str = redis_url, **options: Any) -> RedisBus:
        options.setdefault("prefix", prefix)
        bus = RedisBus(url, **options)
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await bus.close()


@pytest.fixture(params=["in_process", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[AnyBus]:
    """Each bus in turn, for the semantics they share."""
    made: AnyBus
    if request.param == "in_process":
        made = InProcessBus()
    else:
        made = RedisBus(request.getfixturevalue("redis_url"), prefix=f"smslocker-test:{token()}:")
    yield made
    await made.close()


@pytest.fixture
async def admin(redis_url: str) -> AsyncIterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


# --------------------------------------------------------------------------- both buses


async def test_events_arrive_in_publish_order(bus: AnyBus) -> None:
    async with bus.subscribe("rental:1") as subscription:
        for n in range(500):
            await bus.publish("rental:1", {"n": n})
        got = await take(subscription, 500)
    assert got == [("rental:1", {"n": n}) for n in range(500)]


async def test_publish_many_keeps_the_order_given_across_channels_and_chunks(
    bus: AnyBus,
) -> None:
    # More items than one Redis pipeline carries: the chunks go in order too.
    items = [(f"rental:{n % 3}", {"n": n}) for n in range(PIPELINE_MAX + 50)]
    async with bus.subscribe("rental:0", "rental:1", "rental:2") as subscription:
        await bus.publish_many(items)
        got = await take(subscription, len(items))
    assert got == items


async def test_publish_many_checks_every_item_before_sending_any(bus: AnyBus) -> None:
    async with bus.subscribe("rental:1") as subscription:
        with pytest.raises(ValueError, match="non-empty string"):
            await bus.publish_many([("rental:1", {"n": 1}), ("", {"n": 2})])
        await bus.publish("rental:1", {"n": 3})
        assert await next_event(subscription) == ("rental:1", {"n": 3})


async def test_every_subscription_of_a_channel_gets_every_event(bus: AnyBus) -> None:
    async with (
        bus.subscribe("rental:1") as first,
        bus.subscribe("rental:1") as second,
        bus.subscribe("rental:2") as other,
    ):
        await bus.publish("rental:1", {"n": 1})
        await bus.publish("rental:2", {"n": 2})
        assert await next_event(first) == ("rental:1", {"n": 1})
        assert await next_event(second) == ("rental:1", {"n": 1})
        # Nothing of rental:1 reaches a subscription to rental:2.
        assert await next_event(other) == ("rental:2", {"n": 2})


async def test_a_subscription_to_several_channels_tells_each_event_channel(bus: AnyBus) -> None:
    async with bus.subscribe("rental:1", "account:7", "rental:1") as subscription:
        assert subscription.channels == ("rental:1", "account:7")
        await bus.publish("account:7", {"n": 1})
        await bus.publish("rental:1", {"n": 2})
        await bus.publish("rental:9", {"n": 3})
        await bus.publish("rental:1", {"n": 4})
        got = await take(subscription, 3)
    # A channel named twice is subscribed once: no event comes twice.
    assert got == [("account:7", {"n": 1}), ("rental:1", {"n": 2}), ("rental:1", {"n": 4})]


async def test_only_events_published_while_entered_are_received(bus: AnyBus) -> None:
    await bus.publish("rental:1", {"n": "before"})
    subscription = bus.subscribe("rental:1")
    await bus.publish("rental:1", {"n": "made but not entered"})
    async with subscription:
        assert bus.subscribers("rental:1") == 1
        await bus.publish("rental:1", {"n": "while entered"})
        assert await next_event(subscription) == ("rental:1", {"n": "while entered"})
    assert bus.subscribers("rental:1") == 0
    await bus.publish("rental:1", {"n": "after"})
    # Left: iteration is over, and nothing more was queued.
    with pytest.raises(StopAsyncIteration):
        await next_event(subscription)


async def test_a_waiting_reader_is_woken_by_a_publish(bus: AnyBus) -> None:
    async with bus.subscribe("rental:1") as subscription:
        reader = asyncio.create_task(next_event(subscription))
        await asyncio.sleep(0.01)
        assert not reader.done()
        await bus.publish("rental:1", {"n": 1})
        assert await reader == ("rental:1", {"n": 1})


async def test_a_full_queue_drops_the_oldest_behind_one_overflow_marker(bus: AnyBus) -> None:
    async with (
        bus.subscribe("rental:1", maxsize=3) as slow,
        bus.subscribe("rental:1") as fast,
    ):
        for n in range(10):
            await bus.publish("rental:1", {"n": n})
        # The other subscriber misses nothing.
        assert await take(fast, 10) == [("rental:1", {"n": n}) for n in range(10)]
        assert await take(slow, 4) == [
            (MARKER_CHANNEL, {"type": OVERFLOW, "dropped": 7, "channels": ["rental:1"]}),
            ("rental:1", {"n": 7}),
            ("rental:1", {"n": 8}),
            ("rental:1", {"n": 9}),
        ]
        assert slow.dropped == 7
        # Once read, the marker is done with: a new gap gets a new one.
        for n in range(10, 14):
            await bus.publish("rental:1", {"n": n})
        await take(fast, 4)
        assert await take(slow, 4) == [
            (MARKER_CHANNEL, {"type": OVERFLOW, "dropped": 1, "channels": ["rental:1"]}),
            ("rental:1", {"n": 11}),
            ("rental:1", {"n": 12}),
            ("rental:1", {"n": 13}),
        ]


async def test_closing_the_bus_ends_subscriptions_after_what_was_queued(bus: AnyBus) -> None:
    async with bus.subscribe("rental:1") as subscription:
        await bus.publish("rental:1", {"n": 1})
        await wait_until(lambda: _has_queued(subscription))
        await bus.close()
        assert [item async for item in subscription] == [("rental:1", {"n": 1})]
        with pytest.raises(BusClosed):
            await bus.publish("rental:1", {"n": 2})
        with pytest.raises(BusClosed):
            bus.subscribe("rental:1")


async def _has_queued(subscription: Subscription) -> bool:
    return bool(subscription._queue)


async def test_misuse_is_refused_clearly(bus: AnyBus) -> None:
    with pytest.raises(ValueError, match="at least one channel"):
        bus.subscribe()
    with pytest.raises(ValueError, match="non-empty string"):
        bus.subscribe("")
    with pytest.raises(ValueError, match="non-empty string"):
        await bus.publish("", {"n": 1})
    with pytest.raises(ValueError, match="maxsize"):
        bus.subscribe("rental:1", maxsize=0)
    subscription = bus.subscribe("rental:1")
    with pytest.raises(RuntimeError, match="enter the subscription"):
        await anext(subscription)
    async with subscription:
        with pytest.raises(RuntimeError, match="entered only once"):
            await subscription.__aenter__()
        reader = asyncio.create_task(anext(subscription))
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="already reading"):
            await anext(subscription)
        reader.cancel()
        await asyncio.wait({reader})


# --------------------------------------------------------------------------- in-process


async def test_open_bus_chooses_by_configuration() -> None:
    for url, kind in (
        (None, InProcessBus),
        ("", InProcessBus),
        ("redis://127.0.0.1:1/0", RedisBus),
    ):
        bus = open_bus(url)
        assert isinstance(bus, kind)
        await bus.close()


async def test_in_process_events_are_not_copied() -> None:
    bus = InProcessBus()
    async with bus.subscribe("rental:1") as first, bus.subscribe("rental:1") as second:
        event: Event = {"type": "message", "text": "code 123456"}
        await bus.publish("rental:1", event)
        assert (await next_event(first))[1] is event
        assert (await next_event(second))[1] is event
    await bus.close()


async def test_a_subscriber_that_never_reads_does_not_hold_up_publishing() -> None:
    bus = InProcessBus(maxsize=100)
    async with bus.subscribe("rental:1") as stuck, bus.subscribe("rental:1") as reading:
        received: list[int] = []

        async def read() -> None:
            async for _, event in reading:
                received.append(event["n"])
                if event["n"] == 99_999:
                    return

        reader = asyncio.create_task(read())
        started = time.perf_counter()
        for n in range(100_000):
            await bus.publish("rental:1", {"n": n})
            if n % 50 == 0:
                await asyncio.sleep(0)  # let the reading subscriber keep up
        elapsed = time.perf_counter() - started
        await asyncio.wait_for(reader, 5)
        assert received == list(range(100_000))
        # The stuck one holds its 100 newest events behind one marker, nothing more.
        assert len(stuck._queue) == 101
        assert stuck.dropped == 100_000 - 100
        assert elapsed < 5
    await bus.close()


@given(
    maxsize=st.integers(min_value=1, max_value=5),
    steps=st.lists(st.sampled_from(["publish", "read"]), max_size=60),
)
def test_what_a_subscriber_reads_accounts_for_every_event(maxsize: int, steps: list[str]) -> None:
    """Whatever the interleaving of publishing and reading: the queue never holds more
    than ``maxsize`` events and one marker, at its head; the events read come in order,
    and each gap is announced by a marker counting it, right where it is."""

    async def scenario() -> None:
        bus = InProcessBus(maxsize=maxsize)
        published = 0
        read: list[tuple[str, Event]] = []
        async with bus.subscribe("rental:1") as subscription:
            for step in steps:
                if step == "publish":
                    await bus.publish("rental:1", {"n": published})
                    published += 1
                elif subscription._queue:
                    read.append(await anext(subscription))
                queued = list(subscription._queue)
                assert sum(1 for c, _ in queued if c != MARKER_CHANNEL) <= maxsize
                # At most one marker, and where the gap is: at the head.
                assert all(c != MARKER_CHANNEL for c, _ in queued[1:])
            while subscription._queue:
                read.append(await anext(subscription))
        await bus.close()
        expected = 0
        for channel, event in read:
            if channel == MARKER_CHANNEL:
                assert event["dropped"] >= 1
                expected += event["dropped"]
            else:
                assert event["n"] == expected
                expected += 1
        assert expected == published

    asyncio.run(scenario())


# --------------------------------------------------------------------------- Redis


async def numsub(admin: redis.Redis, bus: RedisBus, channel: str) -> int:
    [(_, count)] = await admin.pubsub_numsub(bus._prefix + channel)
    return int(count)


async def test_an_event_published_by_one_process_reaches_subscribers_in_two_others(
    redis_url: str, make_redis_bus: Callable[..., RedisBus]
) -> None:
    bus = make_redis_bus()
    channel = f"rental:{token()}"
    count = 200
    peer = await asyncio.create_subprocess_exec(
        sys.executable,
        str(PEER),
        *("subscribe", redis_url, bus._prefix, channel, str(count)),
        stdout=asyncio.subprocess.PIPE,
    )
    assert peer.stdout is not None
    try:
        ready = await asyncio.wait_for(peer.stdout.readline(), 15)
        assert ready == b"ready\n"
        async with bus.subscribe(channel) as subscription:
            publisher = await asyncio.create_subprocess_exec(
                sys.executable, str(PEER), *("publish", redis_url, bus._prefix, channel, str(count))
            )
            assert await asyncio.wait_for(publisher.wait(), 15) == 0
            here = await take(subscription, count)
        lines = await asyncio.wait_for(peer.stdout.read(), 15)
        assert await asyncio.wait_for(peer.wait(), 5) == 0
    finally:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
    there = [json.loads(line) for line in lines.splitlines()]
    assert [event["n"] for _, event in here] == list(range(count))
    assert [item["event"]["n"] for item in there] == list(range(count))
    assert {item["channel"] for item in there} == {channel}
    # Published by a third process: neither this one nor the subscribing peer.
    assert {event["pid"] for _, event in here} == {publisher.pid}


async def test_one_connection_serves_every_subscription_of_a_process(
    make_redis_bus: Callable[..., RedisBus], admin: redis.Redis
) -> None:
    bus = make_redis_bus()
    async with bus.subscribe("rental:1") as first, bus.subscribe("rental:1", "rental:2"):
        assert await numsub(admin, bus, "rental:1") == 1
        assert await numsub(admin, bus, "rental:2") == 1
        async with bus.subscribe("rental:1"):
            assert await numsub(admin, bus, "rental:1") == 1
        await bus.publish("rental:1", {"n": 1})
        assert await next_event(first) == ("rental:1", {"n": 1})
    await wait_until(lambda: _numsub_is(admin, bus, "rental:1", 0))
    assert await numsub(admin, bus, "rental:2") == 0


async def _numsub_is(admin: redis.Redis, bus: RedisBus, channel: str, expected: int) -> bool:
    return await numsub(admin, bus, channel) == expected


async def test_entering_and_leaving_in_a_storm_leaves_redis_exactly_subscribed(
    make_redis_bus: Callable[..., RedisBus], admin: redis.Redis
) -> None:
    """SUBSCRIBE and UNSUBSCRIBE of one channel overlap in flight; each entered
    subscription must still be live on Redis, and none left behind at the end."""
    bus = make_redis_bus()

    async def churn(n: int) -> None:
        for round_ in range(10):
            async with bus.subscribe("rental:1") as subscription:
                if (n + round_) % 3 == 0:
                    await asyncio.sleep(0)
                marker = {"n": n, "round": round_}
                await bus.publish("rental:1", marker)
                async for _, event in subscription:
                    if event == marker:
                        break

    await asyncio.wait_for(asyncio.gather(*(churn(n) for n in range(20))), 20)
    await wait_until(lambda: _numsub_is(admin, bus, "rental:1", 0))
    assert bus.subscribers("rental:1") == 0
    async with bus.subscribe("rental:1") as subscription:
        assert await numsub(admin, bus, "rental:1") == 1
        await bus.publish("rental:1", {"n": "last"})
        assert await next_event(subscription) == ("rental:1", {"n": "last"})


async def test_a_subscriber_cancelled_while_entering_leaves_no_trace(
    make_redis_bus: Callable[..., RedisBus], admin: redis.Redis
) -> None:
    """Its SUBSCRIBE, its UNSUBSCRIBE and the next subscriber's SUBSCRIBE are in flight
    together: Redis ends exactly subscribed, and the connection shared with the other
    subscriptions stays up (redis-py drops a connection whose send is interrupted)."""
    bus = make_redis_bus()
    async with bus.subscribe("account:1") as bystander:
        for n in range(20):
            async with bus.subscribe("rental:1"):
                pass
            entering = asyncio.create_task(bus.subscribe("rental:1").__aenter__())
            await asyncio.sleep(0)  # it sent its SUBSCRIBE; Redis has not answered yet
            entering.cancel()
            await asyncio.wait({entering})
            assert entering.cancelled()
            async with bus.subscribe("rental:1") as subscription:
                await bus.publish("rental:1", {"n": n})
                assert await next_event(subscription) == ("rental:1", {"n": n})
        await bus.publish("account:1", {"n": "end"})
        # The link never dropped: no "reconnected" marker before the event.
        assert await next_event(bystander) == ("account:1", {"n": "end"})
    assert bus.reconnects == 0
    await wait_until(lambda: _numsub_is(admin, bus, "rental:1", 0))


async def test_redis_events_are_json(
    make_redis_bus: Callable[..., RedisBus], admin: redis.Redis
) -> None:
    bus = make_redis_bus()
    async with bus.subscribe("rental:1") as subscription:
        with pytest.raises(TypeError, match="JSON-compatible"):
            await bus.publish("rental:1", {"at": time})
        with pytest.raises(TypeError, match="JSON-compatible"):
            await bus.publish("rental:1", {"n": float("nan")})
        # Something else publishing garbage on our channel is skipped, not fatal.
        await admin.publish(bus._prefix + "rental:1", b"\xff not json")
        await admin.publish(bus._prefix + "rental:1", b"[1, 2]")
        event = {"text": "Ваш код 4821", "codes": ["4821"], "segments": 1, "read": False}
        await bus.publish("rental:1", event)
        assert await next_event(subscription) == ("rental:1", event)


async def test_killed_connections_are_made_again_and_subscribers_told(
    make_redis_bus: Callable[..., RedisBus], admin: redis.Redis
) -> None:
    name = f"smslocker-test-{token()}"
    bus = make_redis_bus(name=name, reconnect_initial=0.01)
    async with bus.subscribe("rental:1") as subscription:
        await bus.publish("rental:1", {"n": 1})
        assert await next_event(subscription) == ("rental:1", {"n": 1})
        killed = 0
        for client in await admin.client_list():
            if client.get("name") == name:
                await admin.client_kill_filter(_id=client["id"])
                killed += 1
        assert killed == 2  # the pub/sub connection and the pooled publishing one
        assert await next_event(subscription) == (MARKER_CHANNEL, {"type": RECONNECTED})
        await bus.publish("rental:1", {"n": 2})
        assert await next_event(subscription) == ("rental:1", {"n": 2})
    assert bus.reconnects == 1


# --------------------------------------------------------------------------- Redis, cut off


class LinkCutter:
    """A loopback TCP proxy in front of Redis that cuts, refuses or blackholes links.

    ``cut()`` resets every live link; while ``refusing`` new connections are reset at
    once (Redis is "down"); ``blackhole()`` stops forwarding on the live links but keeps
    them open, as a half-open TCP link does. New links are forwarded normally.
    """

    def __init__(self, redis_url: str) -> None:
        parts = urlsplit(redis_url)
        self._target = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._parts = parts
        self.refusing = False
        self._links: dict[tuple[asyncio.StreamWriter, asyncio.StreamWriter], bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        netloc = f"127.0.0.1:{self.port}"
        if self._parts.username or self._parts.password:
            netloc = self._parts.netloc.rsplit("@", 1)[0] + "@" + netloc
        return urlunsplit(self._parts._replace(netloc=netloc))

    async def __aenter__(self) -> LinkCutter:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        self.cut()
        await self._server.wait_closed()
        if self._tasks:
            await asyncio.wait(self._tasks)

    def cut(self) -> None:
        for client, upstream in list(self._links):
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()

    def blackhole(self) -> None:
        for link in self._links:
            self._links[link] = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if self.refusing:
                writer.transport.abort()
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self._target)
            except OSError:
                writer.transport.abort()
                return
            link = (writer, up_writer)
            self._links[link] = False
            await asyncio.gather(
                self._pipe(link, reader, up_writer), self._pipe(link, up_reader, writer)
            )
        finally:
            self._tasks.discard(task)

    async def _pipe(
        self,
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            while data := await reader.read(65536):
                if not self._links.get(link, False):
                    writer.write(data)
                    await writer.drain()
        except OSError:
            pass
        finally:
            self._links.pop(link, None)
            writer.transport.abort()


@pytest.fixture
async def cutter(redis_url: str) -> AsyncIterator[LinkCutter]:
    async with LinkCutter(redis_url) as proxy:
        yield proxy


async def test_redis_unreachable_for_a_while(
    cutter: LinkCutter, make_redis_bus: Callable[..., RedisBus]
) -> None:
    bus = make_redis_bus(
        cutter.url, reconnect_initial=0.02, reconnect_cap=0.1, subscribe_timeout=0.3
    )
    async with bus.subscribe("rental:1") as subscription:
        cutter.refusing = True
        cutter.cut()
        with pytest.raises(BusUnavailable):
            await bus.publish("rental:1", {"n": "lost"})
        # A subscription cannot start while Redis cannot confirm it.
        with pytest.raises(BusUnavailable, match="did not confirm"):
            async with bus.subscribe("rental:2"):
                pass
        assert bus.subscribers("rental:2") == 0
        await asyncio.sleep(0.3)  # several reconnect attempts, all refused
        cutter.refusing = False
        assert await next_event(subscription) == (MARKER_CHANNEL, {"type": RECONNECTED})
        await bus.publish("rental:1", {"n": "back"})
        assert await next_event(subscription) == ("rental:1", {"n": "back"})
    assert bus.reconnects >= 2


async def test_a_subscription_entered_during_an_outage_starts_when_redis_is_back(
    cutter: LinkCutter, make_redis_bus: Callable[..., RedisBus]
) -> None:
    bus = make_redis_bus(cutter.url, reconnect_initial=0.02, reconnect_cap=0.1)
    async with bus.subscribe("rental:1") as first:
        cutter.refusing = True
        cutter.cut()
        entering = asyncio.create_task(bus.subscribe("rental:2").__aenter__())
        await asyncio.sleep(0.2)
        assert not entering.done()
        cutter.refusing = False
        second = await asyncio.wait_for(entering, 5)
        try:
            await bus.publish("rental:2", {"n": 1})
            # Entered after the outage: it missed nothing, so it gets no marker.
            assert await next_event(second) == ("rental:2", {"n": 1})
            assert await next_event(first) == (MARKER_CHANNEL, {"type": RECONNECTED})
        finally:
            await second.__aexit__(None, None, None)


async def test_a_silent_link_is_found_by_ping_and_made_again(
    cutter: LinkCutter, make_redis_bus: Callable[..., RedisBus]
) -> None:
    bus = make_redis_bus(cutter.url, ping_interval=0.1, reconnect_initial=0.01)
    async with bus.subscribe("rental:1") as subscription:
        cutter.blackhole()
        assert await next_event(subscription) == (MARKER_CHANNEL, {"type": RECONNECTED})
        await bus.publish("rental:1", {"n": 1})
        assert await next_event(subscription) == ("rental:1", {"n": 1})


async def test_closing_wakes_a_subscription_waiting_to_enter(
    cutter: LinkCutter, make_redis_bus: Callable[..., RedisBus]
) -> None:
    bus = make_redis_bus(cutter.url, reconnect_initial=0.02, reconnect_cap=0.1)
    cutter.refusing = True
    entering = asyncio.create_task(bus.subscribe("rental:1").__aenter__())
    await asyncio.sleep(0.1)
    await bus.close()
    with pytest.raises(BusClosed):
        await asyncio.wait_for(entering, 5)
