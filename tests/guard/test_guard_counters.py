"""Token buckets and sliding windows behave the same in memory and in Redis; Redis
counters are atomic across clients."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from smslocker.guard.counters import (
    Counters,
    MemoryCounters,
    RedisCounters,
    retry_after_header,
)

T = 1_800_000_000.0


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[Counters]:
    if request.param == "memory":
        made: Counters = MemoryCounters()
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisCounters(url, prefix=f"test:{secrets.token_hex(6)}:")
    try:
        yield made
    finally:
        await made.aclose()


async def test_bucket_spends_the_burst_then_refills(counters: Counters) -> None:
    results = [await counters.take("b", 2.0, 3, T) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert results[-1].retry_after == pytest.approx(0.5)
    assert (await counters.take("b", 2.0, 3, T + 0.5)).allowed
    assert not (await counters.take("b", 2.0, 3, T + 0.5)).allowed
    # A long pause refills up to the burst, not beyond.
    later = [await counters.take("b", 2.0, 3, T + 100) for _ in range(4)]
    assert [r.allowed for r in later] == [True, True, True, False]
    # Another key has its own bucket.
    assert (await counters.take("other", 2.0, 3, T)).allowed


async def test_a_clock_behind_never_refills(counters: Counters) -> None:
    for _ in range(2):
        await counters.take("skew", 1.0, 2, T)
    assert not (await counters.take("skew", 1.0, 2, T - 50)).allowed


async def test_window_counts_members_within_it(counters: Counters) -> None:
    assert await counters.hit("w", 10, T, "a") == 1
    assert await counters.hit("w", 10, T + 1, "b") == 2
    assert await counters.hit("w", 10, T + 2, "a") == 2  # the same member again
    assert await counters.hit("w", 10, T + 10.5, "c") == 3  # "a" was seen at T + 2
    assert await counters.hit("w", 10, T + 12.5, "d") == 2  # a (T+2) and b (T+1) left


async def test_redis_buckets_are_atomic_across_clients(redis_url: str) -> None:
    prefix = f"test:{secrets.token_hex(6)}:"
    clients = [RedisCounters(redis_url, prefix=prefix) for _ in range(2)]
    try:
        results = await asyncio.gather(
            *(clients[i % 2].take("shared", 0.001, 10, T) for i in range(40))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert sum(result.allowed for result in results) == 10


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.2) == "2"


async def test_memory_counters_forget_idle_keys_when_crowded() -> None:
    counters = MemoryCounters()
    counters.PRUNE_ABOVE = 3
    for index in range(4):
        await counters.take(f"ip:{index}", 1.0, 1, T)
        await counters.hit(f"w:{index}", 5, T, "m")
    # Much later every bucket is full again and every window empty: a new key prunes.
    await counters.take("ip:new", 1.0, 1, T + 100)
    await counters.hit("w:new", 5, T + 100, "m")
    assert set(counters._buckets) == {"ip:new"}
    assert set(counters._windows) == {"w:new"}
