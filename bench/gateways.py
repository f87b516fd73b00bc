"""Ingest scaled out: N ``smslocker serve --role gateway`` processes sharing N connectors.

The production picture of DESIGN.md: gateway processes on PostgreSQL, each connector
run by one process at a time, the connectors shared out among the live processes
(smslocker.gateway.manager). Unlike ``bench/ingest.py``, nothing here is instrumented:
the gateways are the real ``serve`` processes, with the sink ``serve`` builds
(message.received events on the bus, the webhook outbox).

Per run, on a database of its own (a fresh PostgreSQL database, or a SQLite file):
migrate, rent the first ``--rentals`` load numbers, store N receiver connectors to the
simulator (disabled), start N gateway processes, wait until each has registered, enable
the connectors, and wait until each process holds one and is bound. Then the load
generator sends ``--count`` messages over the N binds at window 100 each.

Printed: messages/s as the generator measured it (first deliver_sm written to the last
answer read; an answer comes only after its message committed), the gateways' CPU per
message and the local PostgreSQL server's (from /proc, over the load only), and how the
binds were shared.

    .venv/bin/python bench/gateways.py [--gateways N ...] [--count N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import prepare_database

PYTHON = sys.executable
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def postgres_cpu() -> float:
    """CPU seconds of every local ``postgres`` process alive now (0 if none: a remote or
    SQLite database). Backends that exit between two readings take their share along,
    but the gateways' connections live through a run."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError, ValueError):
            if stat.read_text().strip() == "postgres":
                total += process_cpu(int(stat.parent.name))
    return total


async def add_connectors(url: str, port: int, count: int) -> None:
    from smslocker.gateway.registry import create_connector
    from smslocker.store import Database
    from smslocker.store.types import utcnow

    database = Database(url)
    try:
        for index in range(count):
            values = {
                "name": f"bench-{index + 1}",
                "host": "127.0.0.1",
                "port": port,
                "system_id": "bench",
                "password": "bench",
                "bind": "receiver",
                "enabled": False,
                "options": {"ghost_timeout": None},
            }
            await create_connector(database, values, utcnow())
    finally:
        await database.close()


async def table_state(url: str) -> tuple[int, dict[str, tuple[str | None, str, str | None]]]:
    """Live gateway processes, and each connector's lease owner, status and last error."""
    from sqlalchemy import func, select

    from smslocker.store import Database
    from smslocker.store.models import ConnectorRow, GatewayProcess

    database = Database(url)
    try:
        async with database.read() as connection:
            live = await connection.scalar(select(func.count()).select_from(GatewayProcess))
            rows = await connection.execute(
                select(
                    ConnectorRow.name,
                    ConnectorRow.lease_owner,
                    ConnectorRow.status,
                    ConnectorRow.last_error,
                )
            )
            owners = {name: (owner, status, error) for name, owner, status, error in rows}
        return int(live or 0), owners
    finally:
        await database.close()


async def enable_all(url: str, count: int) -> None:
    from smslocker.gateway.registry import set_enabled
    from smslocker.store import Database
    from smslocker.store.types import utcnow

    database = Database(url)
    try:
        for index in range(count):
            await set_enabled(database, f"bench-{index + 1}", True, utcnow())
    finally:
        await database.close()


def wait_for(condition: Any, what: str, timeout: float = 60.0) -> Any:
    """Poll ``condition()``, an (ok, value) pair, until ok; return the value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        ok, value = condition()
        if ok:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what} (last seen: {value!r})")


@contextlib.contextmanager
def database_for(postgres: str | None) -> Iterator[str]:
    """A fresh database URL: a new PostgreSQL database, or a SQLite file in a temp dir."""
    if postgres is None:
        with tempfile.TemporaryDirectory(prefix="smslocker-bench-") as folder:
            yield f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        return
    import asyncpg

    admin = postgres.replace("postgresql+asyncpg://", "postgresql://")
    name = f"bench_{secrets.token_hex(4)}"

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f"CREATE DATABASE {name}"))
    try:
        base = "postgresql+asyncpg://" + admin.split("://", 1)[1].rsplit("/", 1)[0]
        yield f"{base}/{name}"
    finally:
        asyncio.run(run(f"DROP DATABASE {name} WITH (FORCE)"))


def run_once(url: str, gateways: int, count: int, rentals: int, data: Path) -> dict[str, Any]:
    import httpx

    asyncio.run(prepare_database(url, None, min(rentals, count)))
    env = {
        **os.environ,
        "SMSLOCKER_LOG_LEVEL": "WARNING",
        "SMSLOCKER_DATABASE_URL": url,
        "SMSLOCKER_DATA_DIR": str(data),
    }
    simulator = subprocess.Popen(
        [
            PYTHON, "-m", "smslocker", "simulate", "--smpp-port", "0", "--http-port", "0",
            "--system-id", "bench", "--password", "bench",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    processes: list[subprocess.Popen[str]] = []
    try:
        assert simulator.stdout is not None
        ready = json.loads(simulator.stdout.readline())  # {"event": "ready", ...}
        asyncio.run(add_connectors(url, ready["smpp_port"], gateways))
        for _ in range(gateways):
            processes.append(
                subprocess.Popen(
                    [PYTHON, "-m", "smslocker", "serve", "--role", "gateway", "--port", "0"],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    env=env,
                )
            )
        for process in processes:
            assert process.stdout is not None
            json.loads(process.stdout.readline())  # {"event": "ready", ...}

        def registered() -> tuple[bool, Any]:
            live, owners = asyncio.run(table_state(url))
            return live == gateways, owners

        def bound() -> tuple[bool, Any]:
            _, connectors = asyncio.run(table_state(url))
            owners = {name: owner for name, (owner, status, _) in connectors.items()}
            ok = all(status == "bound" for _, status, _ in connectors.values())
            return ok and len(set(owners.values())) == gateways, (owners, connectors)

        wait_for(registered, "every gateway to register")
        asyncio.run(enable_all(url, gateways))
        owners, _ = wait_for(bound, "each gateway to bind one connector")
        before = sum(process_cpu(process.pid) for process in processes)
        server_before = postgres_cpu()
        load = {"count": count, "rate": 0, "numbers": count, "window": 100, "timeout": 900}
        report = httpx.post(
            f"http://127.0.0.1:{ready['http_port']}/load", json=load, timeout=960
        ).json()
        cpu = sum(process_cpu(process.pid) for process in processes) - before
        server_cpu = postgres_cpu() - server_before
    finally:
        for process in (simulator, *processes):
            if process.poll() is None:
                process.terminate()
        for process in (simulator, *processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            if process.poll() is None:
                process.kill()
    if report["acked"] != count:
        raise RuntimeError(f"the generator had {report['acked']} of {count} answered")
    return {
        "gateways": gateways,
        "messages": count,
        "rate": report["rate"],
        "cpu_us": cpu / count * 1e6,
        "gateway_cpu_share": cpu / report["elapsed_s"],
        "server_cpu_us": server_cpu / count * 1e6,
        "generator_cpu_share": report["cpu_s"] / max(report["elapsed_s"], 1e-9),
        "binds_per_process": sorted(
            sum(1 for owner in owners.values() if owner == o) for o in set(owners.values())
        ),
        "sessions": report["sessions"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--gateways", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--count", type=int, default=60_000, help="messages per run")
    parser.add_argument("--rentals", type=int, default=1000, help="rented numbers")
    parser.add_argument("--postgres", metavar="URL", help="PostgreSQL (default: SQLite)")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.count = 2_000
    results = []
    for gateways in args.gateways:
        with database_for(args.postgres) as url, tempfile.TemporaryDirectory() as data:
            result = run_once(url, gateways, args.count, args.rentals, Path(data))
        result["database"] = "postgresql" if args.postgres else "sqlite"
        results.append(result)
        print(
            f"{result['database']:<10} {gateways} gateway process(es)  "
            f"{result['messages']:>7} msgs  {result['rate']:>9,.0f} msg/s  "
            f"{result['cpu_us']:6.1f} µs CPU/msg  gateways' CPU {result['gateway_cpu_share']:.0%}  "
            f"generator CPU {result['generator_cpu_share']:.0%}  "
            f"local postgres {result['server_cpu_us']:.1f} µs CPU/msg  "
            f"binds per process {result['binds_per_process']}",
            flush=True,
        )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
