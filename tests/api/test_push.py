"""Push over WebSocket and SSE, against the app served by uvicorn on loopback.

Messages come through the real ingest sink and are published after the commit with
:func:`smslocker.delivery.events.publish`, as the ingest path does.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth, rent_any, settings_for
from push_support import (
    ingest_and_publish,
    message_events,
    next_frame,
    serve_on_loopback,
    until_ready,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from smslocker.api.app import create_app
from smslocker.api.routes import push
from smslocker.delivery import events
from smslocker.delivery.bus import InProcessBus
from smslocker.platform import Platform
from smslocker.routing.ingest import StoreSink


async def _close_code(websocket: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            await websocket.recv()
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_websocket_sends_the_backlog_then_live_messages_once(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    (first,) = await ingest_and_publish(platform, sink, rental["number"], "Your code is 111111")
    url = f"ws://{server}/api/v1/rentals/{rental['id']}/ws"
    async with connect(url, additional_headers=auth(key)) as websocket:
        (backlog,) = await until_ready(websocket)
        assert backlog["type"] == "message.received"
        assert backlog["rental_id"] == rental["id"]
        assert backlog["message"]["id"] == first
        assert backlog["message"]["codes"][0]["value"] == "111111"
        # Published again (a message both in the backlog and live): not sent twice.
        await events.publish(platform.bus, await message_events(platform, [first]))
        (second,) = await ingest_and_publish(platform, sink, rental["number"], "Code 222222")
        live = await next_frame(websocket)
        assert live["message"]["id"] == second
        assert live["message"]["text"] == "Code 222222"
        # Rental events come on the same stream.
        await client.post(f"/api/v1/rentals/{rental['id']}/release", headers=auth(key))
        ended = await next_frame(websocket)
        assert ended["type"] == "rental.released"
        assert ended["rental"]["status"] == "completed"


async def test_websocket_after_skips_what_the_client_has(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    (first,) = await ingest_and_publish(platform, sink, rental["number"], "one")
    (second,) = await ingest_and_publish(platform, sink, rental["number"], "two")
    # The key as a query parameter, as browsers send it; the short form of the route.
    url = f"ws://{server}/ws/connect?session_id={rental['id']}&after={first}&access_token={key}"
    async with connect(url) as websocket:
        assert (await next_frame(websocket))["message"]["id"] == second


@pytest.mark.parametrize(
    ("path", "key_kind", "code"),
    [
        ("/api/v1/rentals/{rental}/ws", "none", 4401),
        ("/api/v1/rentals/{rental}/ws", "wrong", 4401),
        ("/api/v1/rentals/{rental}/ws", "other", 4404),
        ("/api/v1/rentals/rnt_doesnotexist/ws", "own", 4404),
        ("/api/v1/rentals/bad%00id/ws", "own", 4404),
        ("/ws/connect?session_id={rental}", "other", 4404),
        ("/api/v1/ws", "none", 4401),
    ],
)
async def test_websocket_refusals_have_readable_close_codes(
    server: str,
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    path: str,
    key_kind: str,
    code: int,
) -> None:
    _, own = await make_account("alice")
    _, other = await make_account("bob")
    await seed_numbers(1)
    rental = await rent_any(client, own)
    headers = {
        "none": {},
        "wrong": auth("sk_nope"),
        "other": auth(other),
        "own": auth(own),
    }[key_kind]
    url = f"ws://{server}" + path.format(rental=rental["id"])
    async with connect(url, additional_headers=headers) as websocket:
        assert await _close_code(websocket) == code


async def test_account_stream_gets_every_rental_and_lifecycle_events(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account("alice")
    _, bob = await make_account("bob")
    await seed_numbers(3)
    first = await rent_any(client, key)
    async with connect(f"ws://{server}/api/v1/ws", additional_headers=auth(key)) as websocket:
        assert await until_ready(websocket) == []  # no backlog unless asked for
        second = await rent_any(client, key)
        created = await next_frame(websocket)
        assert created["type"] == "rental.created"
        assert created["rental"]["id"] == second["id"]
        bobs = await rent_any(client, bob)  # not alice's: never on her stream
        await ingest_and_publish(platform, sink, bobs["number"], "bob's")
        await ingest_and_publish(platform, sink, first["number"], "to the first")
        await ingest_and_publish(platform, sink, second["number"], "to the second")
        got = [await next_frame(websocket), await next_frame(websocket)]
        assert [frame["rental_id"] for frame in got] == [first["id"], second["id"]]
        assert [frame["message"]["text"] for frame in got] == ["to the first", "to the second"]
    # With after=, the account's messages since then first (not bob's).
    async with connect(
        f"ws://{server}/api/v1/ws?after=0", additional_headers=auth(key)
    ) as websocket:
        replayed = [await next_frame(websocket), await next_frame(websocket)]
        assert [frame["message"]["text"] for frame in replayed] == [
            "to the first",
            "to the second",
        ]


async def test_heartbeat_on_a_quiet_stream(
    server: str,
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(push, "HEARTBEAT_S", 0.05)
    _, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    url = f"ws://{server}/api/v1/rentals/{rental['id']}/ws"
    async with connect(url, additional_headers=auth(key)) as websocket:
        assert await until_ready(websocket) == []
        async with asyncio.timeout(5):
            assert json.loads(await websocket.recv()) == {"type": "ping"}


@pytest.mark.parametrize("stream", ["rental", "account"])
async def test_overflow_is_repaired_from_the_inbox(
    database: Any, clock: Any, tmp_path: Any, make_account: MakeAccount, stream: str
) -> None:
    """A subscriber whose queue overflowed gets what it missed from the inbox, once each,
    and nothing from before its stream started."""
    from api_support import make_sink, seed_numbers

    small = Platform(
        settings=settings_for(tmp_path), db=database, bus=InProcessBus(maxsize=2), clock=clock
    )
    app = create_app(small)
    sink = make_sink(small)
    account_id, key = await make_account()
    await seed_numbers(small, 1)
    try:
        async with (
            serve_on_loopback(app) as host,
            httpx.AsyncClient(base_url=f"http://{host}") as client,
        ):
            rental = await rent_any(client, key)
            (old,) = await ingest_and_publish(small, sink, rental["number"], "old", publish=False)
            channel = f"rental:{rental['id']}" if stream == "rental" else f"account:{account_id}"
            path = f"/api/v1/rentals/{rental['id']}/ws" if stream == "rental" else "/api/v1/ws"
            async with connect(f"ws://{host}{path}", additional_headers=auth(key)) as websocket:
                backlog = await until_ready(websocket)
                # A rental stream starts with the rental's messages; an account stream is
                # live only (unless asked with after=).
                assert [f["message"]["id"] for f in backlog] == (
                    [old] if stream == "rental" else []
                )
                ids = []
                for n in range(8):
                    ids += await ingest_and_publish(
                        small, sink, rental["number"], f"m{n}", publish=False
                    )
                # Published in one go, with no turn of the loop for the subscriber: its queue
                # of 2 overflows, and the marker sends it back to the inbox.
                for event in await message_events(small, ids):
                    await small.bus.publish(channel, event)
                got = [(await next_frame(websocket))["message"]["id"] for _ in ids]
                assert got == ids
                await small.bus.publish(channel, (await message_events(small, ids[-1:]))[0])
                with pytest.raises(TimeoutError):
                    await next_frame(websocket, timeout=0.3)
    finally:
        await sink.close()
        await small.bus.close()


# --------------------------------------------------------------------------- SSE


class SseReader:
    """Events of an SSE response, read one at a time (comments skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.is_ready = False

    async def ready(self, timeout: float = 5.0) -> None:
        """Read up to the ``: ready`` comment (the backlog is skipped)."""
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == ": ready":
                    self.is_ready = True
                    return
        raise AssertionError("the stream ended before it was ready")

    async def next(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, str]]:
        found: list[dict[str, str]] = []
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            async for line in self._lines:
                if line == "":
                    if "data" in fields:
                        found.append(fields)
                        if len(found) == count:
                            return found
                    fields = {}
                elif line == ": ready":
                    self.is_ready = True
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        raise AssertionError(f"the stream ended after {len(found)} events")


async def test_sse_streams_backlog_and_live_with_ids_and_resumes(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    (first,) = await ingest_and_publish(platform, sink, rental["number"], "Your code: 424242")
    path = f"/api/v1/rentals/{rental['id']}/events"
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http,
        http.stream("GET", path, headers=auth(key)) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = SseReader(response)
        (backlog,) = await stream.next()
        assert backlog["event"] == "message.received"
        assert backlog["id"] == str(first)
        assert json.loads(backlog["data"])["message"]["codes"][0]["value"] == "424242"
        (second,) = await ingest_and_publish(platform, sink, rental["number"], "again")
        (live,) = await stream.next()
        assert live["id"] == str(second)
    # A reconnecting browser sends Last-Event-ID: only what came after it.
    (third,) = await ingest_and_publish(platform, sink, rental["number"], "third", publish=False)
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http,
        http.stream(
            "GET", f"{path}?access_token={key}", headers={"Last-Event-ID": str(second)}
        ) as response,
    ):
        (resumed,) = await SseReader(response).next()
        assert resumed["id"] == str(third)


async def test_account_sse_stream(
    server: str,
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account()
    await seed_numbers(1)
    rental = await rent_any(client, key)
    async with (
        httpx.AsyncClient(base_url=f"http://{server}", timeout=10) as http,
        http.stream("GET", "/api/v1/events", headers=auth(key)) as response,
    ):
        stream = SseReader(response)
        await stream.ready()
        (message_id,) = await ingest_and_publish(platform, sink, rental["number"], "hello")
        (event,) = await stream.next()
        assert event["id"] == str(message_id)
        assert json.loads(event["data"])["rental_id"] == rental["id"]


async def test_sse_refusals_are_problems(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _, alice = await make_account("alice")
    _, bob = await make_account("bob")
    await seed_numbers(1)
    rental = await rent_any(client, alice)
    path = f"/api/v1/rentals/{rental['id']}/events"
    assert (await client.get(path)).status_code == 401
    other = await client.get(path, headers=auth(bob))
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    bad = await client.get(path, params={"after": -1}, headers=auth(alice))
    assert bad.status_code == 422


# --------------------------------------------------------------------------- across processes

PEER = Path(__file__).with_name("push_peer.py")


async def _start_api(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    """``smslocker serve --role api`` on a free port; (process, host:port) once ready."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "smslocker", "serve", "--role", "api",
        "--host", "127.0.0.1", "--port", "0",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = await process.stdout.readline()
            if not line:
                raise AssertionError("smslocker serve exited before it was ready")
            if line.startswith(b"{"):
                ready = json.loads(line)
                if ready.get("event") == "ready":
                    return process, ready["url"].removeprefix("http://")


async def test_a_message_ingested_in_one_process_reaches_websockets_in_two_others(
    redis_url: str, tmp_path: Path
) -> None:
    """Two API processes and one publisher on the same database and Redis: the message
    one process ingests and publishes reaches the WebSockets both API processes hold."""
    from api_support import make_account, seed_numbers

    from smslocker.rentals import RentRequest, rent
    from smslocker.store import Database, upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'push.db'}"
    database = Database(url)
    try:
        await upgrade(database)
        local = Platform(settings=settings_for(tmp_path), db=database, bus=InProcessBus())
        account_id, key = await make_account(local)
        await seed_numbers(local, 1)
        rental = await rent(database, account_id, RentRequest(), local.now(), local.settings.policy)
        await local.bus.close()
    finally:
        await database.close()
    env = {
        **os.environ,
        "SMSLOCKER_DATABASE_URL": url,
        "SMSLOCKER_REDIS_URL": redis_url,
        "SMSLOCKER_DATA_DIR": str(tmp_path / "data"),
        "SMSLOCKER_LOG_LEVEL": "WARNING",
    }
    starting = [asyncio.create_task(_start_api(env)) for _ in range(2)]
    processes = []
    try:
        (first, first_host), (second, second_host) = await asyncio.gather(*starting)
        processes += [first, second]
        async with (
            connect(
                f"ws://{first_host}/api/v1/rentals/{rental.id}/ws", additional_headers=auth(key)
            ) as by_rental,
            connect(f"ws://{second_host}/api/v1/ws", additional_headers=auth(key)) as by_account,
        ):
            assert await until_ready(by_rental) == []
            assert await until_ready(by_account) == []
            publisher = await asyncio.create_subprocess_exec(
                sys.executable, str(PEER), rental.id, "Your code is 777000",
                env=env, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            async with asyncio.timeout(30):
                out, _ = await publisher.communicate()
            assert publisher.returncode == 0
            message_id = int(out.split()[-1])
            for websocket in (by_rental, by_account):
                frame = await next_frame(websocket, timeout=10)
                assert frame["type"] == "message.received"
                assert frame["message"]["id"] == message_id
                assert frame["message"]["codes"][0]["value"] == "777000"
    finally:
        for task in starting:
            if task.done() and not task.cancelled() and task.exception() is None:
                processes.append(task.result()[0])
        for process in set(processes):
            if process.returncode is None:
                process.terminate()
        for process in set(processes):
            async with asyncio.timeout(15):
                await process.wait()
