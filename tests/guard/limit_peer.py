"""A second API process for the shared-limit test: an app on the same Redis counters.

``python limit_peer.py REDIS_URL PREFIX CALLS DATA_DIR`` makes CALLS unauthenticated
calls through its own app (same fixed clock as the test) and prints their status codes
as a JSON list.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx

from smslocker.api.app import create_app
from smslocker.delivery.bus import InProcessBus
from smslocker.platform import Platform
from smslocker.settings import GuardSettings, Settings
from smslocker.store import Database

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def shared_settings(redis_url: str, prefix: str, data_dir: Path) -> Settings:
    guard = GuardSettings(ip_rate_per_s=0.001, ip_burst=5, redis_prefix=prefix)
    return Settings(data_dir=data_dir, redis_url=redis_url, guard=guard)


async def main(redis_url: str, prefix: str, calls: int, data_dir: Path) -> list[int]:
    settings = shared_settings(redis_url, prefix, data_dir)
    database = Database(f"sqlite+aiosqlite:///{data_dir / 'peer.db'}")
    platform = Platform(settings=settings, db=database, bus=InProcessBus(), clock=lambda: T0)
    app = create_app(platform)
    statuses = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://peer") as client:
            for _ in range(calls):
                statuses.append((await client.get("/api/v1/rentals")).status_code)
    finally:
        await app.state.guard.aclose()
        await platform.close()
    return statuses


if __name__ == "__main__":
    url, key_prefix, count, folder = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    print(json.dumps(asyncio.run(main(url, key_prefix, count, Path(folder)))))
