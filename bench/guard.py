"""Guard benchmark: what the guard costs on the rent path, through the API.

One renter rents a number and releases it, ``--rounds`` times, through the in-process
app (httpx's ASGI transport, no sockets), on a fresh SQLite database (or PostgreSQL with
``--postgres``), on two apps side by side, round by round: one with the guard's
limits, quotas and abuse rules on (roomy limits, so nothing is refused and no rule
acts) and one with them off. The audit trail is written in both
(it is not switchable). Printed: p50 and p99 of rent + release in milliseconds for
each, the difference, the CPU per round (which load from other processes does not
inflate), and the cost of one audit append on its own; then one JSON line.

    .venv/bin/python bench/guard.py [--rounds 500] [--postgres postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text

from smslocker.accounts import Role, create_key
from smslocker.api.app import create_app
from smslocker.delivery.bus import InProcessBus
from smslocker.guard import audit
from smslocker.platform import Platform
from smslocker.rentals import create_account
from smslocker.settings import GuardSettings, PolicySettings, Settings
from smslocker.store.db import Database, async_url
from smslocker.store.migrate import upgrade
from smslocker.store.models import EPOCH, Number

T0 = datetime(2026, 12, 1, tzinfo=UTC)
ROOMY = {
    "ip_rate_per_s": 1e9,
    "ip_burst": 10**9,
    "key_rate_per_s": 1e9,
    "key_burst": 10**9,
    "rental_quota_per_hour": {"unverified": 10**9},
    # Evaluated on every rent and release, never reached: the cost, not the action.
    "rent_burst": {"count": 10**9, "window_s": 300},
    "empty_endings": {"count": 10**9, "window_s": 3600},
    "accounts_per_ip": {"count": 10**9, "window_s": 3600},
}


async def _database(postgres: str | None, folder: Path) -> tuple[Database, Any]:
    if postgres is None:
        database = Database(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
        await upgrade(database)
        return database, None
    schema = f"bench_{secrets.token_hex(4)}"
    admin = Database(async_url(postgres))
    async with admin.write() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
    database = Database(async_url(postgres), schema=schema)
    await upgrade(database)
    return database, (admin, schema)


class Setup:
    """One app on its own database, with the guard on or off, and a renter's key."""

    def __init__(self, guard_on: bool, postgres: str | None, folder: Path) -> None:
        self.guard_on, self.postgres, self.folder = guard_on, postgres, folder
        self.clock = {"now": T0}
        self.timings: list[float] = []
        self.cpu: list[float] = []

    async def open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.database, self.cleanup = await _database(self.postgres, self.folder)
        guard = GuardSettings(**ROOMY, limits_enabled=self.guard_on, rules_enabled=self.guard_on)
        # Zero cooldown and grace: the same few numbers come back at once.
        policy = PolicySettings(cooldown_s=0, grace_s=0, default_price=0)
        settings = Settings(data_dir=self.folder, policy=policy, guard=guard)
        platform = Platform(settings, self.database, InProcessBus(), clock=self.now)
        self.app = create_app(platform)
        account_id = await create_account(self.database, "bench", T0, balance=0)
        _view, key = await create_key(self.database, account_id, Role.USER, T0)
        self.headers = {"Authorization": f"Bearer {key}"}
        async with self.database.write() as connection:
            await connection.execute(insert(Number), [_number(index) for index in range(100)])
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://bench")

    def now(self) -> datetime:
        return self.clock["now"]

    async def round(self) -> None:
        self.clock["now"] += timedelta(seconds=120)  # rules' windows never fill up
        start, cpu = time.perf_counter(), time.process_time()
        rented = await self.client.post("/api/v1/rentals", json={}, headers=self.headers)
        assert rented.status_code == 201, rented.text
        rental_id = rented.json()["id"]
        released = await self.client.post(
            f"/api/v1/rentals/{rental_id}/release", headers=self.headers
        )
        assert released.status_code == 200, released.text
        self.timings.append((time.perf_counter() - start) * 1000)
        self.cpu.append((time.process_time() - cpu) * 1000)
        # Numbers come back to FREE through the sweeper; do its job here.
        async with self.database.write() as connection:
            await connection.execute(text("UPDATE numbers SET state = 'FREE', busy_until = NULL"))

    async def close(self) -> None:
        await self.client.aclose()
        await self.app.state.guard.aclose()
        await self.database.close()
        if self.cleanup is not None:
            admin, schema = self.cleanup
            async with admin.write() as connection:
                await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            await admin.close()


def _number(index: int) -> dict[str, Any]:
    return {
        "e164": f"+1415555{index:04d}",
        "country": "US",
        "line_type": "mobile",
        "tags": [],
        "state": "FREE",
        "state_since": T0,
        "last_used_at": EPOCH,
        "created_at": T0,
    }


async def run_both(
    rounds: int, postgres: str | None, folder: Path
) -> tuple[list[float], list[float]]:
    """Rounds alternate between guard off and on, so that load from elsewhere on the
    machine weighs on both alike."""
    off, on = Setup(False, postgres, folder / "off"), Setup(True, postgres, folder / "on")
    await off.open()
    await on.open()
    try:
        for _ in range(rounds):
            await off.round()
            await on.round()
    finally:
        await off.close()
        await on.close()
    return off, on


async def audit_cost(rounds: int, folder: Path) -> list[float]:
    database = Database(f"sqlite+aiosqlite:///{folder / 'audit.db'}")
    await upgrade(database)
    timings = []
    try:
        for index in range(rounds):
            start = time.perf_counter()
            await audit.record(database, "bench", at=T0, actor="bench", details={"i": index})
            timings.append((time.perf_counter() - start) * 1000)
    finally:
        await database.close()
    return timings


def _p(values: list[float], quantile: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        off_setup, on_setup = await run_both(args.rounds, args.postgres, Path(folder))
        off, on = off_setup.timings, on_setup.timings
        appends = await audit_cost(args.rounds, Path(folder))
    result = {
        "database": "postgresql" if args.postgres else "sqlite",
        "rounds": args.rounds,
        "guard_off_p50_ms": round(statistics.median(off), 3),
        "guard_off_p99_ms": round(_p(off, 0.99), 3),
        "guard_on_p50_ms": round(statistics.median(on), 3),
        "guard_on_p99_ms": round(_p(on, 0.99), 3),
        "guard_off_cpu_ms": round(statistics.mean(off_setup.cpu), 3),
        "guard_on_cpu_ms": round(statistics.mean(on_setup.cpu), 3),
        "audit_append_p50_ms": round(statistics.median(appends), 3),
    }
    result["overhead_p50_pct"] = round(
        100 * (result["guard_on_p50_ms"] / result["guard_off_p50_ms"] - 1), 1
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--postgres", metavar="URL", help="run on this PostgreSQL instead")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    print(
        f"{result['database']}: rent+release p50/p99 guard off "
        f"{result['guard_off_p50_ms']}/{result['guard_off_p99_ms']} ms, on "
        f"{result['guard_on_p50_ms']}/{result['guard_on_p99_ms']} ms "
        f"({result['overhead_p50_pct']:+}% p50); CPU per round off "
        f"{result['guard_off_cpu_ms']} ms, on {result['guard_on_cpu_ms']} ms; "
        f"one audit append (own transaction) "
        f"{result['audit_append_p50_ms']} ms"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
