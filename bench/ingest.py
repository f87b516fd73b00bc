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

``--binds N`` runs N receiver processes, each a connector of its own with one bind at
window 100 (as N gateway processes each running one connector would), all writing to
the same database; the generator spreads the load over the binds. The rate is then all
messages over the span from the first receiver's first batch to the last one's last
commit, and the CPU is the receivers' sum.

    .venv/bin/python bench/ingest.py [--count N] [--postgres URL] [--binds N] [--quick]
        [--no-enrich]
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
    """The receiver process: bind, store until told to stop (SIGTERM), report."""
    import signal

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
    # (wall clock, CPU) at the first batch and after the last commit. perf_counter is
    # CLOCK_MONOTONIC, one clock for every process of the machine: the driver compares
    # the receivers' instants.
    first: list[float] = []
    last: list[float] = [0.0, 0.0]
    accept = sink.accept

    async def timed_accept(batch: Any) -> None:
        if not first:
            first.extend((time.perf_counter(), cpu_seconds()))
        await accept(batch)
        last[:] = (time.perf_counter(), cpu_seconds())

    sink.accept = timed_accept  # type: ignore[method-assign]
    connector = Connector(
        ConnectorConfig(
            name=args.name,
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
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    connector.start()
    try:
        # The driver signals once the generator has every answer: every message committed.
        async with asyncio.timeout(args.timeout):
            await stop.wait()
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
        "first": first[0] if first else 0.0,
        "last": last[0],
        "cpu_s": last[1] - first[1] if first else 0.0,
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
    binds: int = 1,
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
            "--load-binds", str(binds),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    receivers: list[subprocess.Popen[str]] = []
    errors: list[Any] = []
    try:
        _wait_for_port(smpp_port, generator)
        for index in range(binds):
            command = [
                PYTHON, str(HERE), "--receive", "--port", str(smpp_port), "--url", url,
                "--name", "bench" if binds == 1 else f"bench-{index + 1}",
            ]  # fmt: skip
            if schema:
                command += ["--schema", schema]
            if no_enrich:
                command.append("--no-enrich")
            if encrypt:
                command.append("--encrypt")
            if filters:
                command += ["--filters", str(filters)]
            # stderr to a file: a pipe nobody reads while the load runs could fill and
            # stall the receiver.
            errors.append(tempfile.TemporaryFile("w+"))  # noqa: SIM115 (closed in finally)
            receivers.append(
                subprocess.Popen(
                    command, stdout=subprocess.PIPE, stderr=errors[-1], text=True, env=env
                )
            )
        # The generator reports once every message is answered, so committed.
        generator_out, _ = generator.communicate(timeout=900)
        received = []
        for receiver, error in zip(receivers, errors, strict=True):
            receiver.terminate()
            out, _ = receiver.communicate(timeout=120)
            if receiver.returncode != 0:
                error.seek(0)
                raise RuntimeError(f"receiver failed:\n{error.read()}")
            received.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in (generator, *receivers):
            if process.poll() is None:
                process.kill()
        for error in errors:
            error.close()
    generated = json.loads(generator_out.strip().splitlines()[-1])
    if generated["acked"] != count:
        raise RuntimeError(f"the generator had {generated['acked']} of {count} answered")
    messages = sum(r["messages"] for r in received)
    cpu = sum(r["cpu_s"] for r in received)
    wall = max(r["last"] for r in received) - min(r["first"] for r in received if r["first"])
    return {
        "messages": messages,
        "binds": binds,
        "rate": messages / wall,
        "cpu_us": cpu / messages * 1e6,
        "receiver_cpu_share": cpu / wall,
        "generator_cpu_share": generated["cpu_s"] / max(generated["elapsed_s"], 1e-9),
        "generator_acked": generated["acked"],
        "batch_mean": messages / max(sum(r["batches"] for r in received), 1),
        "routed": sum(r["routed"] for r in received),
        # Every receiver counts the whole table's outbox: the last one to answer has all.
        "webhooks": max(r["webhooks"] for r in received),
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
    result = run_once(
        url, schema, args.count, args.no_enrich, args.encrypt, args.filters, args.binds
    )
    result["database"] = label
    if result["generator_cpu_share"] > 0.9:
        verdict = "the generator is the bottleneck"
    elif result["receiver_cpu_share"] > 0.9 * min(result["binds"], os.cpu_count() or 1):
        verdict = "the receiver CPU is the bottleneck"
    else:
        verdict = "neither saturated a core: latency-bound"
    print(
        f"{label:<10} {result['binds']} bind(s) {result['messages']:>8} msgs  "
        f"{result['rate']:>9,.0f} msg/s  "
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
    parser.add_argument(
        "--binds",
        type=int,
        default=1,
        metavar="N",
        help="N receiver processes, each a connector with its own bind (window 100 each)",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    # The receiver subprocess's own options.
    parser.add_argument("--receive", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--name", default="bench", help=argparse.SUPPRESS)
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
