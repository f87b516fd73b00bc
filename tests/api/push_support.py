"""What the push tests share: the app served on loopback (WebSocket and SSE need a real
server: httpx's ASGI transport buffers whole responses), and inbound SMS through the
real ingest sink, published with :func:`smslocker.delivery.events.publish`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn
from api_support import deliver_sms
from websockets.asyncio.client import ClientConnection

from smslocker.api.views import message_json
from smslocker.delivery import events
from smslocker.platform import Platform
from smslocker.routing.inbox import rental_messages
from smslocker.routing.ingest import StoreSink
from smslocker.store.models import Message


class QuietServer(uvicorn.Server):
    # Several servers in one process must not take turns owning SIGINT: leave it alone.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def serve_on_loopback(app: Any) -> AsyncIterator[str]:
    """Serve the ASGI ``app`` on 127.0.0.1 (a free port) in this event loop while in the
    block; yield ``host:port``."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def ingest_and_publish(
    platform: Platform, sink: StoreSink, number: str, text: str, *, publish: bool = True
) -> list[int]:
    """One SMS to ``number`` through the real StoreSink; then, after the commit, its
    ``message.received`` events through :func:`events.publish`. Returns the new ids."""
    ids = await deliver_sms(platform, sink, number, text, publish=False)
    if publish:
        await events.publish(platform.bus, await message_events(platform, ids))
    return ids


async def message_events(platform: Platform, ids: list[int]) -> list[dict[str, Any]]:
    """The ``message.received`` events of stored messages (as ingest builds them)."""
    found = []
    for message_id in ids:
        async with platform.db.read() as connection:
            row = (
                await connection.execute(Message.__table__.select().where(Message.id == message_id))
            ).one()
        if row.rental_id is None:
            continue
        (message,) = await rental_messages(
            platform.db,
            row.account_id,
            row.rental_id,
            after=message_id - 1,
            limit=1,
            ring=platform.keyring,
        )
        found.append(events.message_event(row.account_id, row.rental_id, message_json(message)))
    return found


async def next_frame(websocket: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame that is an event (not ``ping``, not ``ready``)."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await websocket.recv())
            if frame.get("type") not in ("ping", "ready"):
                return dict(frame)


async def until_ready(websocket: ClientConnection, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The frames before ``{"type": "ready"}`` (the backlog): after it, the stream is live."""
    frames = []
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await websocket.recv())
            if frame.get("type") == "ready":
                return frames
            if frame.get("type") != "ping":
                frames.append(frame)
