"""Push latency: a message injected at the SMSC simulator -> received on a WebSocket.

Two processes, as a deployment has them:

- the server (this script with ``--serve``, a subprocess): the platform on a SQLite
  file (synchronous=FULL, the default) or a PostgreSQL schema, a Connector bound to the
  simulator feeding the real StoreSink (group commit, routing, OTP extraction), the bus
  (in-process, or Redis with ``--redis``), and the API app under uvicorn;
- the driver (this script): the Simulator in-process, injecting mobile-originated
  messages at ``--rate`` per second over ``--rentals`` rented numbers, and one
  WebSocket per rental (``/api/v1/rentals/{id}/ws``) reading them back.

A message's latency is from :meth:`Simulator.inject_mo` to its frame read on the
WebSocket, both in the driver process (one clock): SMPP out and back, the connector,
the durable commit, the bus, the WebSocket send. Printed: p50, p90, p99 and max in
milliseconds, against the target p99 <= 20 ms, p50 <= 5 ms; then the server's view of
the same messages (each text carries its injection time on the monotonic clock, which
the processes share): when they reached the sink, were committed, were published; and
the JSON of the run on the last line.

Publishing after the commit: the StoreSink publishes ``message.received`` itself (it
has the platform's bus). ``--harness-publish`` measures the stand-in used before it
did: the sink without a bus, and the server, after each commit (the sink's
``on_stored``), reading the new rows from the inbox and calling
:func:`smslocker.delivery.events.publish` (one query per commit more).

    .venv/bin/python bench/ws_latency.py [--rate 1000] [--seconds 10] [--rentals 100]
                                         [--postgres URL] [--redis URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

PYTHON = sys.executable
HERE = Path(__file__).resolve()
NUMBER_PREFIX = "447900"  # destinations 447900000000.., E.164 with "+"
TARGET_P50_MS, TARGET_P99_MS = 5.0, 20.0
#: Sequence numbers of measured messages start here (the warm-up's are below).
MEASURED_FROM = 10**6


# --------------------------------------------------------------------------- server


async def serve(args: argparse.Namespace) -> None:
    """The server process: platform, connector, sink, (publisher), API; until SIGTERM."""
    import uvicorn
    from sqlalchemy import create_engine, select

    from smslocker.api.app import create_app
    from smslocker.api.views import message_json
    from smslocker.delivery import events
    from smslocker.delivery.bus import open_bus
    from smslocker.gateway import BindType, Connector, ConnectorConfig
    from smslocker.platform import Platform
    from smslocker.routing.inbox import InboxMessage
    from smslocker.routing.ingest import StoreSink
    from smslocker.serve import freeze_startup_objects
    from smslocker.settings import Settings
    from smslocker.store import Database
    from smslocker.store.models import Message

    settings = Settings(database_url=args.url, redis_url=args.redis)
    platform = Platform(
        settings=settings,
        db=Database(args.url, schema=args.schema, sqlite_synchronous=args.sqlite_synchronous),
        bus=open_bus(args.redis),
    )
    wake = asyncio.Event()
    columns = [getattr(Message, name) for name in InboxMessage.__dataclass_fields__]
    # The wired ingest path will know the ids it inserted and read nothing. Standing in
    # for it, the harness reads the new rows: on SQLite straight on the event loop (a
    # read by primary key, well under a millisecond), since aiosqlite's thread hops would
    # add what the real path does not have.
    sync_engine = (
        create_engine(args.url.replace("sqlite+aiosqlite://", "sqlite://"))
        if args.url.startswith("sqlite")
        else None
    )

    async def read_after(last: int) -> list[Any]:
        query = select(Message.account_id, *columns).where(Message.id > last).order_by(Message.id)
        if sync_engine is not None:
            with sync_engine.connect() as connection:
                return list(connection.execute(query).all())
        async with platform.db.read() as connection:
            return list((await connection.execute(query)).all())

    stages: dict[str, list[float]] = {"arrived": [], "committed": [], "published": []}

    def stamp(stage: str, text: str | None, now: float) -> None:
        sent = _sent_at(text)
        if sent is not None:
            stages[stage].append((now - sent) * 1000)

    async def publish_committed() -> None:
        # Tail the inbox: after each commit, publish what is new, in id order.
        rows = await read_after(0)
        last = rows[-1].id if rows else 0
        while True:
            await wake.wait()
            wake.clear()
            found = []
            for row in await read_after(last):
                values = dict(row._mapping)
                account_id = values.pop("account_id")
                if account_id is not None:
                    message = InboxMessage(**values)
                    found.append(
                        events.message_event(
                            account_id, message.rental_id or "", message_json(message)
                        )
                    )
                last = max(last, row.id)
            await events.publish(platform.bus, found)
            now = time.monotonic()
            for event in found:
                stamp("published", event["message"]["text"], now)

    if not args.harness_publish:
        bus_publish = platform.bus.publish

        async def timed_publish(channel: str, event: Any) -> None:
            await bus_publish(channel, event)
            if channel.startswith("rental:"):
                stamp("published", event["message"]["text"], time.monotonic())

        platform.bus.publish = timed_publish  # type: ignore[method-assign]
    sink = StoreSink(
        platform.db,
        settings.ingest,
        guess_service=platform.senders.guess_service,
        on_stored=(lambda _rows: wake.set()) if args.harness_publish else None,
        bus=None if args.harness_publish else platform.bus,
    )
    accept = sink.accept

    async def timed_accept(batch: Any) -> None:
        arrived = time.monotonic()
        await accept(batch)
        committed = time.monotonic()
        for message in batch:
            stamp("arrived", getattr(message, "text", None), arrived)
            stamp("committed", getattr(message, "text", None), committed)

    sink.accept = timed_accept  # type: ignore[method-assign]
    connector = Connector(
        ConnectorConfig(
            name="bench", host="127.0.0.1", port=args.smpp_port, system_id="bench",
            password="bench", bind=BindType.RECEIVER, ghost_timeout=None,
        ),
        sink,
    )  # fmt: skip
    publisher = asyncio.create_task(publish_committed()) if args.harness_publish else None
    config = uvicorn.Config(
        create_app(platform), host="127.0.0.1", port=args.http_port, log_level="warning",
        lifespan="off", access_log=False,
    )  # fmt: skip
    server = uvicorn.Server(config)
    server_task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn has no "started" event
        await asyncio.sleep(0.01)
    connector.start()
    freeze_startup_objects()  # as smslocker serve does once started
    print(json.dumps({"event": "ready"}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(
        json.dumps({"event": "stages", **{k: _summary(v) for k, v in stages.items()}}), flush=True
    )
    await connector.stop(timeout=2)
    await sink.close()
    if publisher is not None:
        publisher.cancel()
    await platform.bus.close()
    server.should_exit = True
    with contextlib.suppress(Exception):
        await server_task
    await platform.db.close()


# --------------------------------------------------------------------------- setup


async def prepare(url: str, schema: str | None, rentals: int) -> tuple[str, list[tuple[str, str]]]:
    """Migrate; one account with a key and ``rentals`` active rentals: (key, [(id, number)])."""
    from sqlalchemy import insert

    from smslocker.accounts import Role, create_key
    from smslocker.rentals import create_account
    from smslocker.store import Database, upgrade
    from smslocker.store.models import Number, Rental
    from smslocker.store.types import new_id, utcnow

    database = Database(url, schema=schema)
    try:
        await upgrade(database)
        now = utcnow()
        account = await create_account(database, "bench", now, balance=10**9)
        _, key = await create_key(database, account, Role.USER, now)
        numbers = [f"+{NUMBER_PREFIX}{i:06d}" for i in range(rentals)]
        made = []
        async with database.write() as connection:
            ids = (
                await connection.execute(
                    insert(Number).returning(Number.id),
                    [{"e164": e164, "state": "RESERVED", "state_since": now, "created_at": now}
                     for e164 in numbers],
                )
            ).scalars()  # fmt: skip
            for number_id, e164 in zip(ids, numbers, strict=True):
                rental_id = new_id("rnt_")
                made.append((rental_id, e164))
                await connection.execute(
                    insert(Rental).values(
                        id=rental_id, account_id=account, number_id=number_id, number=e164,
                        status="active", started_at=now - timedelta(minutes=1),
                        expires_at=now + timedelta(hours=6), window_end=now + timedelta(hours=6),
                    )
                )  # fmt: skip
    finally:
        await database.close()
    return key, made


# --------------------------------------------------------------------------- driver


async def drive(args: argparse.Namespace, url: str, schema: str | None) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from smslocker.simulator import Account, Simulator, SimulatorConfig

    key, rentals = await prepare(url, schema, args.rentals)
    config = SimulatorConfig(port=0, accounts=(Account("bench", "bench"),), window=args.window)
    async with Simulator(config) as smsc:
        http_port = _free_port()
        command = [
            PYTHON, str(HERE), "--serve", "--url", url, "--smpp-port", str(smsc.port),
            "--http-port", str(http_port),
        ]  # fmt: skip
        if schema:
            command += ["--schema", schema]
        if args.redis:
            command += ["--redis", args.redis]
        command += ["--sqlite-synchronous", args.sqlite_synchronous]
        if args.harness_publish:
            command.append("--harness-publish")
        env = {**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"}
        server = await asyncio.create_subprocess_exec(*command, env=env, stdout=subprocess.PIPE)
        try:
            assert server.stdout is not None
            async with asyncio.timeout(60):
                while b'"ready"' not in await server.stdout.readline():
                    if server.returncode is not None:
                        raise RuntimeError("the server exited")
            await smsc.wait_for_receiver(timeout=30)
            result = await _measure(args, smsc, http_port, key, rentals, connect)
        finally:
            server.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    output, _ = await server.communicate()
            if server.returncode is None:
                server.kill()
                await server.wait()
    # The server's own view: when each message reached the sink, was committed, was
    # published (from injection, as the driver measures).
    for line in output.splitlines():
        if line.startswith(b"{") and b'"stages"' in line:
            stages = json.loads(line)
            del stages["event"]
            result["server_stages"] = stages
    return result


async def _measure(
    args: argparse.Namespace, smsc: Any, http_port: int, key: str,
    rentals: list[tuple[str, str]], connect: Any,
) -> dict[str, Any]:  # fmt: skip
    injected: dict[int, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()
    expected = {"count": 0}
    stray = {"count": 0}

    async def reader(websocket: Any) -> None:
        async for frame in websocket:
            event = json.loads(frame)
            if event.get("type") != "message.received":
                continue
            received = time.perf_counter()
            sequence = int(event["message"]["text"].split("#", 1)[1].split(" ", 1)[0])
            sent = injected.pop(sequence, None)
            if sent is None:
                stray["count"] += 1  # a duplicate (none expected) or the warm-up's
                continue
            latencies.append((received - sent) * 1000)
            if expected["count"] and len(latencies) >= expected["count"]:
                done.set()

    headers = {"Authorization": f"Bearer {key}"}
    async with contextlib.AsyncExitStack() as stack:
        sockets = []
        for rental_id, _ in rentals:
            websocket = await stack.enter_async_context(
                connect(f"ws://127.0.0.1:{http_port}/api/v1/rentals/{rental_id}/ws",
                        additional_headers=headers, max_queue=None)
            )  # fmt: skip
            while json.loads(await websocket.recv()).get("type") != "ready":
                pass
            sockets.append(websocket)
        readers = [asyncio.create_task(reader(websocket)) for websocket in sockets]
        try:
            # Warm-up: connections, caches, the first transactions; not measured.
            await _inject(smsc, rentals, injected, start=0, count=min(200, args.count), rate=200)
            await asyncio.sleep(1.0)
            # The driver stands in for the SMSC and the clients, other machines in a
            # deployment: the pauses of its own full collections (its imports, the
            # simulator, a hundred clients) are not the server's latency.
            gc.collect()
            gc.freeze()
            latencies.clear()
            injected.clear()
            stray["count"] = 0
            expected["count"] = args.count
            done.clear()
            started = time.perf_counter()
            await _inject(
                smsc, rentals, injected, start=MEASURED_FROM, count=args.count, rate=args.rate
            )
            sent_s = time.perf_counter() - started
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await done.wait()
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
    ordered = sorted(latencies)
    return {
        "rate": args.rate,
        "injected": args.count,
        "received": len(ordered),
        "achieved_rate": args.count / sent_s,
        "p50_ms": _percentile(ordered, 50),
        "p90_ms": _percentile(ordered, 90),
        "p99_ms": _percentile(ordered, 99),
        "max_ms": ordered[-1] if ordered else None,
        "mean_ms": statistics.fmean(ordered) if ordered else None,
        "stray_frames": stray["count"],
        "simulator_acked": smsc.stats().acked,
    }


async def _inject(
    smsc: Any, rentals: list[tuple[str, str]], injected: dict[int, float],
    *, start: int, count: int, rate: float,
) -> None:  # fmt: skip
    """``count`` messages at ``rate`` per second, round robin over the rentals: each
    is injected at its own scheduled time (the loop sleeps to the next one)."""
    began = time.perf_counter()
    for n in range(count):
        due = began + n / rate
        delay = due - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        _, number = rentals[n % len(rentals)]
        sequence = start + n
        injected[sequence] = time.perf_counter()
        text = f"Your code is {100000 + n % 900000} #{sequence} t={time.monotonic_ns()}"
        smsc.inject_mo("447700900001", number.lstrip("+"), text)


def _sent_at(text: str | None) -> float | None:
    """The injection time (monotonic, which every process shares) a measured text carries."""
    if not text or " t=" not in text or "#" not in text:
        return None
    if int(text.split("#", 1)[1].split(" ", 1)[0]) < MEASURED_FROM:
        return None  # the warm-up's
    return int(text.rsplit(" t=", 1)[1]) / 1e9


def _summary(values: list[float]) -> dict[str, float | None]:
    ordered = sorted(values)
    return {"p50_ms": _percentile(ordered, 50), "p99_ms": _percentile(ordered, 99)}


def _percentile(ordered: list[float], percent: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
    return ordered[index]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- main


async def _with_schema(pg_url: str, run: Any) -> dict[str, Any]:
    import asyncpg

    schema = f"bench_{secrets.token_hex(4)}"
    plain = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(plain)
    await connection.execute(f"CREATE SCHEMA {schema}")
    try:
        result: dict[str, Any] = await run(schema)
        return result
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()


def report(label: str, result: dict[str, Any]) -> None:
    ok = (
        result["received"] == result["injected"]
        and (result["p50_ms"] or 1e9) <= TARGET_P50_MS
        and (result["p99_ms"] or 1e9) <= TARGET_P99_MS
    )
    print(
        f"{label:<22} {result['received']:>6}/{result['injected']} received at "
        f"{result['achieved_rate']:,.0f} msg/s   p50 {result['p50_ms']:.2f} ms   "
        f"p90 {result['p90_ms']:.2f} ms   p99 {result['p99_ms']:.2f} ms   "
        f"max {result['max_ms']:.2f} ms   (target p50 <= {TARGET_P50_MS:g}, "
        f"p99 <= {TARGET_P99_MS:g}: {'met' if ok else 'NOT met'})",
        flush=True,
    )
    stages = result.get("server_stages")
    if stages:
        shown = "   ".join(
            f"{name} p50 {values['p50_ms']:.2f} / p99 {values['p99_ms']:.2f} ms"
            for name, values in stages.items()
            if values["p50_ms"] is not None
        )
        print(f"{'':<22} from injection, in the server: {shown}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000, help="messages per second")
    parser.add_argument("--seconds", type=float, default=10, help="how long to inject")
    parser.add_argument("--rentals", type=int, default=100, help="rentals (one WebSocket each)")
    parser.add_argument("--window", type=int, default=100, help="simulator's SMPP window")
    parser.add_argument("--postgres", metavar="URL", help="also run on this PostgreSQL")
    parser.add_argument("--redis", metavar="URL", help="use the Redis bus at this URL")
    parser.add_argument(
        "--sqlite-synchronous", choices=["FULL", "NORMAL"], default="FULL",
        help="SQLite's durability (FULL, the default, fsyncs every commit)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a short run (the smoke test)")
    parser.add_argument(
        "--harness-publish", action="store_true",
        help="publish from the harness (reading the inbox), not from the sink",
    )  # fmt: skip
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--smpp-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--http-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from smslocker.log import configure_logging
    from smslocker.settings import Settings

    configure_logging(Settings(log_level="WARNING"))  # a log line per message would be measured
    if args.serve:
        asyncio.run(serve(args))
        return
    if args.quick:
        args.seconds, args.rentals = 1.0, 10
    args.count = max(1, round(args.rate * args.seconds))
    bus = "redis" if args.redis else "in-process"
    results = []
    with tempfile.TemporaryDirectory(prefix="smslocker-ws-bench-") as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        result = asyncio.run(drive(args, url, None))
        result.update(database="sqlite", bus=bus)
        report(f"sqlite, {bus} bus", result)
        results.append(result)
    if args.postgres:
        pg_url = "postgresql+asyncpg://" + args.postgres.split("://", 1)[1]
        result = asyncio.run(_with_schema(pg_url, lambda schema: drive(args, pg_url, schema)))
        result.update(database="postgresql", bus=bus)
        report(f"postgresql, {bus} bus", result)
        results.append(result)
    print(json.dumps({"results": results, "harness_publish": args.harness_publish}))


if __name__ == "__main__":
    main()
