"""A webhook receiver served on loopback, for the webhook worker's tests.

A real HTTP server (uvicorn, on 127.0.0.1 and a free port) in the test's event loop.
Each request is checked as a receiver would: the Standard Webhooks signature with
:func:`smslocker.delivery.signing.verify`, against the secrets the test gives and the
test's clock. What it answers is scripted per ``webhook-id`` and attempt: a status
code, or :data:`TIMEOUT` (it sleeps past the worker's timeout, then answers 500).

It keeps every request (``requests``) and, per ``webhook-id``, how many times it
accepted it with a 2xx (``accepted``): "each event exactly once" is
``all(n == 1 for n in accepted.values())``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from smslocker.delivery.signing import WebhookVerificationError, verify

#: An action: sleep past the worker's timeout.
TIMEOUT = "timeout"

#: (webhook-id, attempt number from 1) -> status code or TIMEOUT.
Script = Callable[[str, int], int | str]


@dataclass
class Received:
    webhook_id: str
    timestamp: str
    signature: str
    body: dict[str, Any]
    raw: bytes
    answer: int | str
    verified: bool


@dataclass
class WebhookReceiver:
    """See the module docstring. ``secrets``: the receiver accepts a signature by any."""

    secrets: list[str]
    clock: Callable[[], datetime]
    script: Script = lambda _id, _attempt: 200
    timeout_sleep: float = 1.0
    requests: list[Received] = field(default_factory=list)
    accepted: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    url: str = ""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        headers = dict(request.headers)
        verified = self._verified(headers, body)
        webhook_id = headers.get("webhook-id", "")
        self.attempts[webhook_id] += 1
        answer: int | str = (
            400 if not verified else self.script(webhook_id, self.attempts[webhook_id])
        )
        self.requests.append(
            Received(
                webhook_id=webhook_id,
                timestamp=headers.get("webhook-timestamp", ""),
                signature=headers.get("webhook-signature", ""),
                body=json.loads(body) if body else {},
                raw=body,
                answer=answer,
                verified=verified,
            )
        )
        if answer == TIMEOUT:
            await asyncio.sleep(self.timeout_sleep)
            answer = 500
        assert isinstance(answer, int)
        if 200 <= answer < 300:
            self.accepted[webhook_id] += 1
        await Response(status_code=answer)(scope, receive, send)

    def _verified(self, headers: dict[str, str], body: bytes) -> bool:
        for secret in self.secrets:
            try:
                verify(secret, headers, body, now=self.clock().timestamp())
            except WebhookVerificationError:
                continue
            return True
        return False

    def verifies(self, received: Received) -> bool:
        """Whether ``received`` verifies with the receiver's secrets now."""
        headers = {
            "webhook-id": received.webhook_id,
            "webhook-timestamp": received.timestamp,
            "webhook-signature": received.signature,
        }
        return self._verified(headers, received.raw)


class _QuietServer(uvicorn.Server):
    # Several servers in one test must not take turns owning SIGINT: leave signals alone.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_on_loopback(app: Any) -> AsyncIterator[str]:
    """Serve the ASGI ``app`` on 127.0.0.1 (a free port) while in the block; yield its
    base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def running_receiver(receiver: WebhookReceiver) -> AsyncIterator[WebhookReceiver]:
    async with serve_on_loopback(receiver) as base:
        receiver.url = base + "/hooks"
        yield receiver
