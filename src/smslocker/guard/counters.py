"""Counters for limits and rules: token buckets and sliding windows, in memory or Redis.

Two primitives, each one atomic step so that concurrent callers never both spend the
last token:

- :meth:`Counters.take`: a token bucket of ``burst`` tokens refilled at ``rate`` per
  second; take one, or learn how long until one is there.
- :meth:`Counters.hit`: a sliding window; add ``member`` at ``now`` (adding it again
  moves it), forget members older than ``window_s``, return how many remain. A unique
  member counts events, a repeated one counts distinct things (accounts of an IP).

``now`` is passed in (seconds since the epoch from the platform's clock), so tests run
on a fake clock. :class:`MemoryCounters` serves one process (the embedded default);
:class:`RedisCounters` runs each step as a Lua script, atomic in Redis, so several API
processes share the counters. With several hosts their clocks must agree (NTP): a
bucket never refills backwards when a caller's ``now`` is behind the last one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis


@dataclass(frozen=True, slots=True)
class Taken:
    """A token bucket's answer: ``allowed``, else ``retry_after`` seconds until a token."""

    allowed: bool
    retry_after: float = 0.0


class Counters(Protocol):
    async def take(self, key: str, rate: float, burst: int, now: float) -> Taken: ...

    async def hit(self, key: str, window_s: float, now: float, member: str) -> int: ...

    async def aclose(self) -> None: ...


def refill(tokens: float, last: float, rate: float, burst: int, now: float) -> float:
    """Tokens in a bucket that had ``tokens`` at ``last``, at ``now`` (never more than burst)."""
    return min(float(burst), tokens + max(0.0, now - last) * rate)


class MemoryCounters:
    """Counters of this process only."""

    #: Above this many keys, full buckets and empty windows are dropped (they are the
    #: same as absent ones), so a flood of distinct IPs cannot grow memory for good.
    PRUNE_ABOVE = 100_000

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float, float, int]] = {}
        self._windows: dict[str, tuple[float, dict[str, float]]] = {}

    async def take(self, key: str, rate: float, burst: int, now: float) -> Taken:
        tokens, last, _rate, _burst = self._buckets.get(key, (float(burst), now, rate, burst))
        tokens = refill(tokens, last, rate, burst, now)
        last = max(last, now)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, last, rate, burst)
            self._prune(now)
            return Taken(True)
        self._buckets[key] = (tokens, last, rate, burst)
        return Taken(False, (1.0 - tokens) / rate)

    async def hit(self, key: str, window_s: float, now: float, member: str) -> int:
        _window, members = self._windows.setdefault(key, (window_s, {}))
        self._windows[key] = (window_s, members)
        horizon = now - window_s
        for old in [name for name, at in members.items() if at <= horizon]:
            del members[old]
        members[member] = max(now, members.get(member, now))
        if len(self._windows) > self.PRUNE_ABOVE:
            self._prune_windows(now)
        return len(members)

    def _prune(self, now: float) -> None:
        if len(self._buckets) <= self.PRUNE_ABOVE:
            return
        for key, (tokens, last, rate, burst) in list(self._buckets.items()):
            if refill(tokens, last, rate, burst, now) >= burst:
                del self._buckets[key]

    def _prune_windows(self, now: float) -> None:
        for key, (window_s, members) in list(self._windows.items()):
            if all(at <= now - window_s for at in members.values()):
                del self._windows[key]

    async def aclose(self) -> None:
        self._buckets.clear()
        self._windows.clear()


# KEYS[1] bucket; ARGV rate, burst, now. Returns {allowed, retry_after as a string}
# (Lua numbers come back from Redis truncated to integers, strings do not).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens = tonumber(state[1])
local last = tonumber(state[2])
if tokens == nil then tokens = burst; last = now end
if now > last then
  tokens = math.min(burst, tokens + (now - last) * rate)
  last = now
end
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'last', tostring(last))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, tostring(retry)}
"""

# KEYS[1] window (a sorted set scored by time); ARGV now, window_s, member.
_HIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local score = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not score or tonumber(score) < now then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return redis.call('ZCARD', KEYS[1])
"""


class RedisCounters:
    """Counters shared by every process using the same Redis and ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "smslocker:guard:") -> None:
        self._redis: Redis = Redis.from_url(url)
        self._prefix = prefix
        self._take: Any = self._redis.register_script(_TAKE)
        self._hit: Any = self._redis.register_script(_HIT)

    async def take(self, key: str, rate: float, burst: int, now: float) -> Taken:
        allowed, retry = await self._take(keys=[self._prefix + key], args=[rate, burst, now])
        return Taken(bool(int(allowed)), float(retry))

    async def hit(self, key: str, window_s: float, now: float, member: str) -> int:
        count = await self._hit(keys=[self._prefix + key], args=[now, window_s, member])
        return int(count)

    async def aclose(self) -> None:
        await self._redis.aclose()


def open_counters(redis_url: str | None, *, prefix: str = "smslocker:guard:") -> Counters:
    """Redis counters when a URL is configured, else this process's."""
    if redis_url:
        return RedisCounters(redis_url, prefix=prefix)
    return MemoryCounters()


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` is whole seconds (RFC 9110): round up, at least 1."""
    return str(max(1, math.ceil(seconds)))


__all__ = [
    "Counters",
    "MemoryCounters",
    "RedisCounters",
    "Taken",
    "open_counters",
    "refill",
    "retry_after_header",
]
