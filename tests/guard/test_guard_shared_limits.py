"""Two API processes on one Redis share the limits: calls through either one spend the
same client's bucket."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
from api_support import client_for
from limit_peer import T0, shared_settings

from smslocker.api.app import create_app
from smslocker.delivery.bus import InProcessBus
from smslocker.platform import Platform
from smslocker.store import Database

PEER = Path(__file__).with_name("limit_peer.py")


def run_peer(redis_url: str, prefix: str, calls: int, data_dir: Path) -> list[int]:
    done = subprocess.run(
        [sys.executable, str(PEER), redis_url, prefix, str(calls), str(data_dir)],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    statuses: list[int] = json.loads(done.stdout.strip().splitlines()[-1])
    return statuses


async def test_two_processes_share_one_bucket(redis_url: str, tmp_path: Path) -> None:
    prefix = f"test:{secrets.token_hex(6)}:"
    settings = shared_settings(redis_url, prefix, tmp_path)
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'main.db'}")
    platform = Platform(settings=settings, db=database, bus=InProcessBus(), clock=lambda: T0)
    app = create_app(platform)
    try:
        async with client_for(app) as client:
            here = [(await client.get("/api/v1/rentals")).status_code for _ in range(2)]
            # The peer is another process with its own app and its own Redis connection.
            there = run_peer(redis_url, prefix, 4, tmp_path)
            after: httpx.Response = await client.get("/api/v1/rentals")
    finally:
        await app.state.guard.aclose()
        await platform.close()
    assert here == [401, 401]
    assert there == [401, 401, 401, 429]  # burst 5: 2 here + 3 there
    assert after.status_code == 429
    assert after.json()["limit"] == "client-ip"


async def test_limits_fail_open_when_redis_is_down(tmp_path: Path) -> None:
    settings = shared_settings("redis://127.0.0.1:1/0", "test:down:", tmp_path)
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'main.db'}")
    platform = Platform(settings=settings, db=database, bus=InProcessBus(), clock=lambda: T0)
    app = create_app(platform)
    try:
        async with client_for(app) as client:
            statuses = [(await client.get("/api/v1/rentals")).status_code for _ in range(7)]
    finally:
        await app.state.guard.aclose()
        await platform.close()
    assert statuses == [401] * 7  # past the burst of 5: the limit could not be counted
