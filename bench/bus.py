"""Bus latency benchmark: publish -> receive, in-process and through Redis.

Three scenarios, each on ``InProcessBus`` and (with a Redis) on ``RedisBus``:

- ``one-by-one``: one subscription; each event is published once the previous one
  arrived, so each figure is the latency of one event on an idle bus;
- ``burst``: one subscription; events published in bursts of ``--burst`` back to back
  (as routing would after a group commit), the publisher yielding only between bursts;
  the latency of each includes its wait behind the ones before it in the burst;
- ``batch``: the same bursts, each sent as one :meth:`~smslocker.delivery.bus.Bus.publish_many`
  (what ingest does with a commit's events since the publish of each one by one fell
  behind on Redis); the latency of each is from the call to its arrival;
- ``fan-out``: ``--fan-out`` subscriptions of one channel, one event at a time; the
  latency is until the last subscription got it.

Through Redis, publisher and subscribers are in this one process, so the path measured
is the whole of it: PUBLISH on a pooled connection, Redis, this process's pub/sub
connection, JSON decoding, local fan-out. Printed: p50, p99 and max in microseconds, one
line per measurement, then the lot as one JSON line.

    .venv/bin/python bench/bus.py [--redis-url URL] [--count N] [--burst N] [--fan-out N]
    .venv/bin/python bench/bus.py --no-redis
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

from smslocker.delivery.bus import Bus, InProcessBus, Subscription
from smslocker.delivery.redis_bus import RedisBus

DEFAULT_REDIS_URL = os.environ.get("SMSLOCKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Result(TypedDict):
    bus: str
    scenario: str
    events: int
    p50_us: float
    p99_us: float
    max_us: float


def summarise(bus: str, scenario: str, latencies_ns: list[int]) -> Result:
    ordered = sorted(latencies_ns)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "bus": bus,
        "scenario": scenario,
        "events": len(ordered),
        "p50_us": round(cuts[49] / 1000, 1),
        "p99_us": round(cuts[98] / 1000, 1),
        "max_us": round(ordered[-1] / 1000, 1),
    }


async def receive(subscription: Subscription, count: int, into: list[int]) -> None:
    """Read ``count`` events, noting each one's latency from its ``sent_ns`` stamp."""
    async for _, event in subscription:
        into.append(time.perf_counter_ns() - event["sent_ns"])
        if len(into) == count:
            return


async def one_by_one(bus: Bus, count: int) -> list[int]:
    latencies: list[int] = []
    async with bus.subscribe("rental:bench") as subscription:
        for n in range(count):
            await bus.publish("rental:bench", {"n": n, "sent_ns": time.perf_counter_ns()})
            _, event = await anext(subscription)
            latencies.append(time.perf_counter_ns() - event["sent_ns"])
    return latencies


async def burst(bus: Bus, count: int, size: int) -> list[int]:
    latencies: list[int] = []
    async with bus.subscribe("rental:bench") as subscription:
        reader = asyncio.create_task(receive(subscription, count, latencies))
        for n in range(count):
            await bus.publish("rental:bench", {"n": n, "sent_ns": time.perf_counter_ns()})
            if n % size == size - 1:
                await asyncio.sleep(0)
        await asyncio.wait_for(reader, 60)
    return latencies


async def batch(bus: Bus, count: int, size: int) -> list[int]:
    latencies: list[int] = []
    async with bus.subscribe("rental:bench") as subscription:
        reader = asyncio.create_task(receive(subscription, count, latencies))
        for start in range(0, count, size):
            sent = time.perf_counter_ns()
            await bus.publish_many(
                [("rental:bench", {"n": n, "sent_ns": sent}) for n in range(start, start + size)]
            )
            await asyncio.sleep(0)
        await asyncio.wait_for(reader, 60)
    return latencies[:count]


async def fan_out(bus: Bus, count: int, subscribers: int) -> list[int]:
    latencies: list[int] = []
    arrived = 0
    all_arrived = asyncio.Event()

    async def follow(subscription: Subscription) -> None:
        nonlocal arrived
        async for _ in subscription:
            arrived += 1
            if arrived == subscribers:
                all_arrived.set()

    subscriptions = [bus.subscribe("rental:bench") for _ in range(subscribers)]
    for subscription in subscriptions:
        await subscription.__aenter__()
    followers = [asyncio.create_task(follow(subscription)) for subscription in subscriptions]
    try:
        for n in range(count):
            arrived = 0
            all_arrived.clear()
            sent = time.perf_counter_ns()
            await bus.publish("rental:bench", {"n": n, "sent_ns": sent})
            await asyncio.wait_for(all_arrived.wait(), 10)
            latencies.append(time.perf_counter_ns() - sent)
    finally:
        for follower in followers:
            follower.cancel()
        await asyncio.wait(followers)
        for subscription in subscriptions:
            await subscription.__aexit__(None, None, None)
    return latencies


async def measure(
    name: str, make_bus: Callable[[int], Bus], count: int, size: int, subscribers: int
) -> list[Result]:
    """Each scenario on a bus of its own, made with queues that hold a whole burst."""
    scenarios: list[tuple[str, Callable[[Bus], Awaitable[list[int]]]]] = [
        ("one-by-one", lambda bus: one_by_one(bus, count)),
        (f"burst x{size}", lambda bus: burst(bus, count, size)),
        (f"batch x{size}", lambda bus: batch(bus, count, size)),
        (f"fan-out x{subscribers}", lambda bus: fan_out(bus, max(count // 10, 100), subscribers)),
    ]
    results = []
    for scenario, run in scenarios:
        bus = make_bus(count)
        try:
            await run(bus)  # warm-up: connections, code paths
            result = summarise(name, scenario, await run(bus))
        finally:
            await bus.close()
        print(
            f"{name:<10} {scenario:<14} {result['events']:>6} events  "
            f"p50 {result['p50_us']:>8.1f} us  p99 {result['p99_us']:>8.1f} us  "
            f"max {result['max_us']:>9.1f} us",
            flush=True,
        )
        results.append(result)
    return results


async def main(redis_url: str | None, count: int, size: int, subscribers: int) -> list[Result]:
    results = await measure(
        "in-process", lambda maxsize: InProcessBus(maxsize=maxsize), count, size, subscribers
    )
    if redis_url:
        prefix = f"smslocker-bench:{secrets.token_hex(4)}:"
        results += await measure(
            "redis",
            lambda maxsize: RedisBus(redis_url, prefix=prefix, maxsize=maxsize),
            count,
            size,
            subscribers,
        )
    return results


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--no-redis", action="store_true", help="measure the in-process bus only")
    parser.add_argument("--count", type=int, default=5000, help="events per measurement")
    parser.add_argument("--burst", type=int, default=100, help="events per burst")
    parser.add_argument("--fan-out", type=int, default=100, help="subscriptions in fan-out")
    arguments = parser.parse_args()
    redis_url = None if arguments.no_redis else arguments.redis_url
    print(f"python {sys.version.split()[0]}, {arguments.count} events", flush=True)
    results: list[Any] = asyncio.run(
        main(redis_url, arguments.count, arguments.burst, arguments.fan_out)
    )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    cli()
