"""A bus peer in a process of its own, for the cross-process tests of ``RedisBus``.

python bus_peer.py subscribe URL PREFIX CHANNEL COUNT
    prints "ready" once subscribed, then each event received as one JSON line,
    and exits after COUNT events (markers included).
python bus_peer.py publish URL PREFIX CHANNEL COUNT
    publishes {"type": "message", "n": 0 .. COUNT-1, "pid": ...} one after another.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from smslocker.delivery.redis_bus import RedisBus


async def subscribe(bus: RedisBus, channel: str, count: int) -> None:
    async with bus.subscribe(channel) as subscription:
        print("ready", flush=True)
        received = 0
        async for got_channel, event in subscription:
            print(json.dumps({"channel": got_channel, "event": event}), flush=True)
            received += 1
            if received == count:
                return


async def publish(bus: RedisBus, channel: str, count: int) -> None:
    for n in range(count):
        await bus.publish(channel, {"type": "message", "n": n, "pid": os.getpid()})


async def main(mode: str, url: str, prefix: str, channel: str, count: int) -> None:
    bus = RedisBus(url, prefix=prefix)
    try:
        if mode == "subscribe":
            await subscribe(bus, channel, count)
        else:
            await publish(bus, channel, count)
    finally:
        await bus.close()


if __name__ == "__main__":
    mode, url, prefix, channel, count = sys.argv[1:]
    if mode not in ("subscribe", "publish"):
        sys.exit(f"unknown mode {mode!r}")
    asyncio.run(main(mode, url, prefix, channel, int(count)))
