"""A loopback TCP proxy that makes the link between connector and SMSC misbehave.

In the spirit of asyncpg's ``_testbase/fuzzer.py`` (STYLE.md habit 8): the connector
connects to the proxy, the proxy to the SMSC, and a test can at any moment

- ``cut()`` every live connection, both sides at once (RST, no unbind);
- set ``delay`` to hold every chunk that long before forwarding it (order kept);
- ``truncate_next(direction, keep)``: forward only ``keep`` octets of the next chunk
  going that way, then cut — a PDU torn in half;
- ``blackhole()``: stop forwarding on the live connections but keep their sockets open,
  so that only a stale-link check (enquire_link unanswered) can notice.

New connections after a cut or a blackhole are forwarded normally. ``chunks`` keeps the
size of every chunk forwarded per direction, so a test can count writes.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

TO_SERVER = "to_server"  # connector -> SMSC
TO_CLIENT = "to_client"  # SMSC -> connector


@dataclass(eq=False)
class ProxiedConnection:
    """One connector connection and its upstream twin."""

    number: int
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    blackholed: bool = False
    closed: bool = False
    chunks: dict[str, list[int]] = field(default_factory=lambda: {TO_SERVER: [], TO_CLIENT: []})

    def cut(self) -> None:
        """Reset both sides at once."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.upstream):
            writer.transport.abort()

    def close(self) -> None:
        """Close both sides gracefully (what is buffered is still sent)."""
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.upstream):
            writer.close()


class AdversityProxy:
    """See the module docstring."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.delay = 0.0
        self.connections: list[ProxiedConnection] = []
        self._truncate: dict[str, int] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> AdversityProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in self.connections:
            connection.cut()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> AdversityProxy:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- adversity ------------------------------------------------------------------

    @property
    def live(self) -> list[ProxiedConnection]:
        return [connection for connection in self.connections if not connection.closed]

    def cut(self) -> int:
        """Cut every live connection; returns how many were cut."""
        live = self.live
        for connection in live:
            connection.cut()
        return len(live)

    def blackhole(self) -> None:
        """Live connections forward nothing more; their sockets stay open."""
        for connection in self.live:
            connection.blackholed = True

    def truncate_next(self, direction: str, keep: int) -> None:
        """The next chunk going ``direction`` is forwarded only up to ``keep`` octets, then cut."""
        assert direction in (TO_SERVER, TO_CLIENT)
        self._truncate[direction] = keep

    @property
    def truncation_pending(self) -> bool:
        return bool(self._truncate)

    # -- forwarding -------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.target_host, self.target_port
                )
            except OSError:
                writer.transport.abort()
                return
            connection = ProxiedConnection(len(self.connections), writer, up_writer)
            self.connections.append(connection)
            await asyncio.gather(
                self._pump(connection, reader, up_writer, TO_SERVER),
                self._pump(connection, up_reader, writer, TO_CLIENT),
            )
        finally:
            self._tasks.discard(task)

    async def _pump(
        self,
        connection: ProxiedConnection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: str,
    ) -> None:
        try:
            while not connection.closed:
                data = await reader.read(65536)
                if not data:
                    break  # EOF: pass the close on (below)
                if connection.blackholed:
                    continue
                if self.delay:
                    await asyncio.sleep(self.delay)
                if connection.closed:
                    break
                keep = self._truncate.pop(direction, None)
                if keep is not None:
                    writer.write(data[:keep])
                    connection.chunks[direction].append(min(keep, len(data)))
                    with contextlib.suppress(ConnectionError):
                        await writer.drain()
                    connection.cut()
                    break
                writer.write(data)
                connection.chunks[direction].append(len(data))
                await writer.drain()
        except (ConnectionError, OSError):
            connection.cut()
        finally:
            connection.close()
