"""Long-poll: hold a request open until what it reads is there, or the wait runs out.

The order is what makes it exact: subscribe to the rental's bus channel *first*, then
read the database. A message committed before the subscription is found by the read;
one committed after it is announced on the channel, and the read is made again. Any
event or marker on the channel (``overflow``, ``reconnected``: "you may have missed
something") triggers a new read, so nothing depends on what an event carries: the
database is the record, the bus only says "look again".

If the bus cannot be subscribed to (Redis down), the wait still works, by reading
every :data:`FALLBACK_POLL_S` seconds: slower, never wrong.

A client that hangs up stops its wait within :data:`DISCONNECT_CHECK_S` (``gone``):
an abandoned poll does not hold a subscription for the rest of its minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from smslocker.delivery.bus import Bus, BusError
from smslocker.log import get_logger

T = TypeVar("T")

log = get_logger(__name__)

#: The longest wait a request may ask for; longer asks are cut to this.
MAX_WAIT_S = 60.0
#: Seconds between reads when the bus is unavailable.
FALLBACK_POLL_S = 1.0
#: Seconds between checks that the client is still there.
DISCONNECT_CHECK_S = 1.0

Gone = Callable[[], Awaitable[bool]]


async def _never_gone() -> bool:
    return False


async def wait_for(
    bus: Bus,
    channel: str,
    read: Callable[[], Awaitable[T]],
    ready: Callable[[T], bool],
    wait_s: float,
    gone: Gone = _never_gone,
) -> T:
    """``read()`` until ``ready(result)`` or ``wait_s`` seconds (at most :data:`MAX_WAIT_S`)
    have passed, or ``gone()`` says the client left; returns the last result. ``wait_s``
    <= 0 reads once."""
    wait_s = min(wait_s, MAX_WAIT_S)
    if wait_s <= 0:
        return await read()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    try:
        async with bus.subscribe(channel) as subscription:
            result = await read()
            while not ready(result):
                remaining = deadline - loop.time()
                if remaining <= 0 or await gone():
                    break
                try:
                    async with asyncio.timeout(min(remaining, DISCONNECT_CHECK_S)):
                        await anext(subscription)
                except TimeoutError:
                    continue  # nothing yet: check the deadline and the client again
                except StopAsyncIteration:  # the bus closed: the process is stopping
                    break
                result = await read()
            return result
    except BusError as error:
        log.warning("longpoll.bus_unavailable", channel=channel, error=str(error))
    return await _poll(read, ready, deadline, gone)


async def _poll(
    read: Callable[[], Awaitable[T]], ready: Callable[[T], bool], deadline: float, gone: Gone
) -> T:
    loop = asyncio.get_running_loop()
    while True:
        result = await read()
        remaining = deadline - loop.time()
        if ready(result) or remaining <= 0 or await gone():
            return result
        await asyncio.sleep(min(FALLBACK_POLL_S, remaining))


__all__ = ["DISCONNECT_CHECK_S", "FALLBACK_POLL_S", "MAX_WAIT_S", "Gone", "wait_for"]
