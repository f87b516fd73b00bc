"""Ingest benchmark: simulator load generator -> Connector -> StoreSink -> durable inbox.

The simulator runs as a subprocess with ``--load`` at window 100; the receiver
(a Connector feeding a StoreSink, as ``smslocker gateway`` wires them, with the
built-in sender directory and OTP extraction) runs as another subprocess on a
SQLite file (synchronous=FULL, the default) or, with ``--postgres URL``, on a
PostgreSQL schema of its own. A message counts once its transaction committed
and the connector acked it. Every message has its own destination number (the
load generator's ``--load-numbers``), so none is taken for a redelivery; with
``--rentals K`` the first K numbers are rented, so routing has work to do, and the
renting account has a webhook endpoint subscribed to ``message.received``: each routed
message is an event published on an in-process bus and a webhook outbox row written in
its transaction, as ``smslocker serve`` does.

Printed per database: messages/s from the first message to the last commit, the
receiver's CPU per message (user + system, from the OS), the receiver's and the
generator's CPU share of a core (a generator near 100% would be the bottleneck),
and the mean transaction size. ``--no-enrich`` leaves OTP extraction and the
sender's service out, to show what they cost.

    .venv/bin/python bench/ingest.py [--count N] [--postgres URL] [--quick] [--no-enrich]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

PYTHON = sys.executable
HERE = Path(__file__).resolve()
DESTINATION_PREFIX = "+4479"  # the load generator's numbers, E.164


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- receiver


def _screen_of(count: int) -> Any:
    """``count`` inbound filter rules that the benchmark's messages all pass: deny rules on
    sources, hold rules on content patterns (the cost of a realistic operator rule set)."""
    from smslocker.screening.rules import Action, Field, FilterRule, Match, RuleSet

    rules = [
        FilterRule(index, Field.SOURCE, Match.EXACT, f"spammer-{index}", Action.DENY)
        if index % 2
        else FilterRule(
            index, Field.CONTENT, Match.REGEX, rf"casino\s+bonus\s+{index}", Action.HOLD
        )
        for index in range(count)
    ]
    rule_set = RuleSet(rules)

    async def screen() -> RuleSet:
        return rule_set

    return screen


async def receive(args: argparse.Namespace) -> dict[str, Any]:
    """The receiver process: bind, store ``count`` messages, report."""
    from sqlalchemy import func, select

    from smslocker.delivery.bus import InProcessBus
    from smslocker.gateway import BindType, Connector, ConnectorConfig
    from smslocker.privacy.keyring import KeyRing
    from smslocker.routing.ingest import StoreSink
    from smslocker.routing.senders import SenderDirectory
    from smslocker.settings import IngestSettings
    from smslocker.store import Database
    from smslocker.store.models import WebhookDelivery

    database = Database(args.url, schema=args.schema)
    directory = SenderDirectory()
    sink = StoreSink(
        database,
        IngestSettings(),
        guess_service=None if args.no_enrich else directory.guess_service,
        extract_codes=not args.no_enrich,
        bus=InProcessBus(),
        ring=KeyRing.generate() if args.encrypt else None,
        screen=_screen_of(args.filters) if args.filters else None,
    )
    first: list[float] = []
    accept = sink.accept

    async def timed_accept(batch: Any) -> None:
        if not first:
            first.extend((time.perf_counter(), cpu_seconds()))
        await accept(batch)

    sink.accept = timed_accept  # type: ignore[method-assign]
    connector = Connector(
        ConnectorConfig(
            name="bench",
            host="127.0.0.1",
            port=args.port,
            system_id="bench",
            password="bench",
            bind=BindType.RECEIVER,
            window=100,
            ghost_timeout=None,
        ),
        sink,
    )
    connector.start()
    try:
        async with asyncio.timeout(args.timeout):
            while True:  # polled, not signalled: the sink has no "n stored" event to wait on
                if sink.stats.stored + sink.stats.duplicates >= args.count:
                    break
                await asyncio.sleep(0.002)
        wall = time.perf_counter() - first[0]
        cpu = cpu_seconds() - first[1]
        async with database.read() as connection:
            webhooks = await connection.scalar(select(func.count()).select_from(WebhookDelivery))
    finally:
        await connector.stop(timeout=2)
        await sink.close()
        await database.close()
    return {
        "messages": sink.stats.stored,
        "duplicates": sink.stats.duplicates,
        "routed": sink.stats.routed,
        "webhooks": webhooks,
        "batches": sink.stats.batches,
        "wall_s": wall,
        "cpu_s": cpu,
    }


# --------------------------------------------------------------------------- driver


async def prepare_database(url: str, schema: str | None, rentals: int) -> None:
    """Migrate, and rent the first ``rentals`` load numbers for the next hours."""
    from sqlalchemy import insert

    from smslocker.store import Database, upgrade
    from smslocker.store.models import Account, Number, Rental, WebhookEndpoint
    from smslocker.store.types import new_id, utcnow

    database = Database(url, schema=schema)
    try:
        await upgrade(database)
        now = utcnow()
        width = 7
        async with database.write() as connection:
            account = (
                await connection.execute(
                    insert(Account).values(name="bench", created_at=now).returning(Account.id)
                )
            ).scalar_one()
            await connection.execute(
                insert(WebhookEndpoint).values(
                    id=new_id("wh_"),
                    account_id=account,
                    url="https://hooks.example/bench",
                    events=["message.received"],
                    secret="whsec_bench",
                    enabled=True,
                    created_at=now,
                    updated_at=now,
                )
            )
            for start in range(0, rentals, 1000):
                chunk = range(start, min(start + 1000, rentals))
                numbers = [f"{DESTINATION_PREFIX}{i:0{width}d}" for i in chunk]
                ids = (
                    await connection.execute(
                        insert(Number).returning(Number.id),
                        [
                            {
                                "e164": e164,
                                "state": "RESERVED",
                                "state_since": now,
                                "created_at": now,
                            }
                            for e164 in numbers
                        ],
                    )
                ).scalars()
                await connection.execute(
                    insert(Rental),
                    [
                        {
                            "id": new_id("rnt_"),
                            "account_id": account,
                            "number_id": number_id,
                            "number": e164,
                            "status": "active",
                            "started_at": now - timedelta(minutes=1),
                            "expires_at": now + timedelta(hours=6),
                            "window_end": now + timedelta(hours=6),
                        }
                        for number_id, e164 in zip(ids, numbers, strict=True)
                    ],
                )
    finally:
        await database.close()


async def create_schema(url: str) -> str:
    import asyncpg

    schema = f"bench_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f"CREATE SCHEMA {schema}")
    finally:
        await connection.close()
    return schema


async def drop_schema(url: str, schema: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    finally:
        await connection.close()


def run_once(
    url: str,
    schema: str | None,
    count: int,
    no_enrich: bool,
    encrypt: bool = False,
    filters: int = 0,
) -> dict[str, Any]:
    smpp_port, http_port = free_port(), free_port()
    env = {**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"}
    generator = subprocess.Popen(
        [
            PYTHON, "-m", "smslocker", "simulate",
            "--smpp-port", str(smpp_port), "--http-port", str(http_port),
            "--system-id", "bench", "--password", "bench",
            "--load", str(count), "--load-rate", "0",
            "--load-numbers", str(count), "--load-window", "100",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    try:
        _wait_for_port(smpp_port, generator)
        command = [
            PYTHON, str(HERE), "--receive", "--port", str(smpp_port),
            "--count", str(count), "--url", url,
        ]  # fmt: skip
        if schema:
            command += ["--schema", schema]
        if no_enrich:
            command.append("--no-enrich")
        if encrypt:
            command.append("--encrypt")
        if filters:
            command += ["--filters", str(filters)]
        receiver = subprocess.run(
            command, capture_output=True, text=True, timeout=900, env=env, check=False
        )
        if receiver.returncode != 0:
            raise RuntimeError(f"receiver failed:\n{receiver.stderr}")
        generator_out, _ = generator.communicate(timeout=120)
    finally:
        if generator.poll() is None:
            generator.kill()
    received = json.loads(receiver.stdout.strip().splitlines()[-1])
    generated = json.loads(generator_out.strip().splitlines()[-1])
    return {
        "messages": received["messages"],
        "rate": received["messages"] / received["wall_s"],
        "cpu_us": received["cpu_s"] / received["messages"] * 1e6,
        "receiver_cpu_share": received["cpu_s"] / received["wall_s"],
        "generator_cpu_share": generated["cpu_s"] / max(generated["elapsed_s"], 1e-9),
        "generator_acked": generated["acked"],
        "batch_mean": received["messages"] / max(received["batches"], 1),
        "routed": received["routed"],
        "webhooks": received["webhooks"],
    }


def _wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the simulator exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the simulator did not open its port")


def bench(label: str, url: str, schema: str | None, args: argparse.Namespace) -> dict[str, Any]:
    asyncio.run(prepare_database(url, schema, min(args.rentals, args.count)))
    result = run_once(url, schema, args.count, args.no_enrich, args.encrypt, args.filters)
    result["database"] = label
    if result["generator_cpu_share"] > 0.9:
        verdict = "the generator is the bottleneck"
    elif result["receiver_cpu_share"] > 0.9:
        verdict = "the receiver is the bottleneck"
    else:
        verdict = "neither saturated a core: latency-bound"
    print(
        f"{label:<10} {result['messages']:>8} msgs  {result['rate']:>9,.0f} msg/s  "
        f"{result['cpu_us']:6.1f} µs CPU/msg  receiver CPU {result['receiver_cpu_share']:.0%}  "
        f"generator CPU {result['generator_cpu_share']:.0%}  "
        f"{result['batch_mean']:.0f} msgs/transaction  ({verdict})",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="messages per run")
    parser.add_argument("--rentals", type=int, default=1000, help="rented numbers")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL")
    parser.add_argument("--no-enrich", action="store_true", help="no OTP codes, no service")
    parser.add_argument(
        "--encrypt", action="store_true", help="seal bodies at rest (smslocker.privacy)"
    )
    parser.add_argument(
        "--filters", type=int, default=0, metavar="N", help="N inbound filter rules, all passed"
    )
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    # The receiver subprocess's own options.
    parser.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receive:
        print(json.dumps(asyncio.run(receive(args))))
        return
    if args.quick:
        args.count = 2_000
    results = []
    with tempfile.TemporaryDirectory(prefix="smslocker-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        results.append(bench("sqlite", url, None, args))
    if args.postgres:
        pg_url = "postgresql+asyncpg://" + args.postgres.split("://", 1)[1]
        schema = asyncio.run(create_schema(pg_url))
        try:
            results.append(bench("postgresql", pg_url, schema, args))
        finally:
            asyncio.run(drop_schema(pg_url, schema))
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
