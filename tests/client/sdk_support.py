"""What the SDK tests share: a sync httpx transport that calls the app in the test's
event loop, and a transport wrapper that counts requests.

The app and its database live in the test's event loop; the blocking
:class:`~smslocker.client.Client` runs in a worker thread (``asyncio.to_thread``) and
:class:`LoopTransport` hands each of its requests back to that loop.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from fastapi import FastAPI


class LoopTransport(httpx.BaseTransport):
    """A blocking transport that runs each request on ``app`` in ``loop`` (in-process)."""

    def __init__(self, app: FastAPI, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._loop = loop

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def call() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result()


class CountingTransport(httpx.AsyncBaseTransport):
    """Passes requests on to ``app`` and counts them by path."""

    def __init__(self, app: FastAPI) -> None:
        self._transport = httpx.ASGITransport(app=app)
        self._counted = asyncio.Event()
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        self._counted.set()
        return await self._transport.handle_async_request(request)

    async def until(self, path: str, count: int) -> None:
        """Return once ``count`` requests to ``path`` have been made."""
        while self.paths[path] < count:
            self._counted.clear()
            await self._counted.wait()
