"""A real smslocker server for the browser tests, and the browser that drives it.

The server is the real app under uvicorn on a loopback port, on the embedded SQLite
database and the in-process bus, with the real clock (the pages count down in real
time). It runs in a thread with its own event loop, so the tests can drive the browser
with Playwright's synchronous API in the test's thread and still reach the platform:
:meth:`LiveServer.call` runs a coroutine on the server's loop (seeding numbers, making
accounts, delivering an SMS through the real ingest sink).

Optionally an SMSC simulator runs on that loop with a connector bound to it
(:meth:`LiveServer.start_simulator`), so a message can be injected at the simulator and
travel SMPP -> connector -> ingest (which publishes on the bus after its commit) ->
WebSocket -> page, as in ``smslocker serve``.

The browser is Debian's chromium (``make browser-deps``) driven by the ``playwright``
pip package through ``executable_path``: no browser is ever downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ci_support import skip_or_fail

T = TypeVar("T")

#: Where the pages' screenshots go (the README shows them).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
#: Chromium on a machine with no network but loopback: no background connections.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
START_S = 30.0


def chromium_path() -> str:
    """Debian's chromium; skips (fails under CI) when it or playwright is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright pip package is missing (pip install -e '.[dev]')")
    found = os.environ.get("SMSLOCKER_CHROMIUM") or next(
        (path for path in CHROMIUM_PATHS if os.access(path, os.X_OK)), shutil.which("chromium")
    )
    if not found:
        skip_or_fail("chromium is missing (make browser-deps installs Debian's)")
    assert found is not None
    return found


@dataclass
class LiveServer:
    """The app served on ``url`` from a thread of its own (see the module docstring)."""

    data_dir: Path
    url: str = ""
    platform: Any = None
    sink: Any = None
    simulator: Any = None
    connector: Any = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="web-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_S):
            raise TimeoutError("the test server did not start")
        if self._error is not None:
            raise RuntimeError("the test server failed to start") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(START_S)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start(), or the test fails on it
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        import uvicorn

        from smslocker.api.app import create_app
        from smslocker.platform import open_platform
        from smslocker.routing.ingest import StoreSink
        from smslocker.settings import IngestSettings, PolicySettings, Settings

        settings = Settings(
            data_dir=self.data_dir,
            policy=PolicySettings(rental_ttl_s=900, max_rental_s=3600, default_price=100),
            ingest=IngestSettings(batch_ms=0.0),
        )
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.platform = await open_platform(settings)
        self.sink = StoreSink(
            self.platform.db,
            settings.ingest,
            clock=self.platform.clock,
            guess_service=self.platform.senders.guess_service,
            bus=self.platform.bus,
        )
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.platform), log_config=None, lifespan="off", ws="websockets-sansio"
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        try:
            while not server.started:
                if serving.done():
                    await serving
                await asyncio.sleep(0.01)
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()
            await self._stop.wait()
        finally:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(serving, 10)
            if self.connector is not None:
                await self.connector.stop()
            if self.simulator is not None:
                await self.simulator.stop()
            await self.platform.close()
            listener.close()

    # ------------------------------------------------------------------ helpers

    def call(self, make: Callable[[], Coroutine[Any, Any, T]], timeout: float = 30.0) -> T:
        """Run ``make()`` on the server's loop and return its result."""
        assert self._loop is not None
        future: Future[T] = asyncio.run_coroutine_threadsafe(make(), self._loop)
        return future.result(timeout)

    def account(self, name: str, *, balance: int = 1000, role: str = "user") -> str:
        """A new account with a key of ``role``; the key."""
        from smslocker.accounts import Role, create_key
        from smslocker.rentals import create_account

        async def make() -> str:
            account_id = await create_account(
                self.platform.db, name, self.platform.now(), balance=balance
            )
            _view, key = await create_key(
                self.platform.db, account_id, Role(role), self.platform.now()
            )
            return key

        return self.call(make)

    def seed(self, numbers: list[str], country: str, connector: str = "sim") -> None:
        """Put ``numbers`` (E.164) of ``country`` in the pool, free to rent."""
        from datetime import timedelta

        from sqlalchemy import insert

        from smslocker.store.models import EPOCH, Number

        async def seed() -> None:
            now = self.platform.now()
            rows = [
                {
                    "e164": number,
                    "country": country,
                    "carrier": "Demo Mobile",
                    "line_type": "mobile",
                    "connector": connector,
                    "tags": [],
                    "state": "FREE",
                    "state_since": now - timedelta(days=1),
                    "last_used_at": EPOCH,
                    "created_at": now - timedelta(days=1),
                }
                for number in numbers
            ]
            async with self.platform.db.write() as connection:
                await connection.execute(insert(Number), rows)

        self.call(seed)

    def deliver(self, number: str, text: str, source: str = "Google") -> None:
        """An SMS to ``number`` as a connector hands it to ingest (no SMPP on the way)."""
        from smslocker.gateway.messages import InboundMessage

        message = InboundMessage(
            connector="sim",
            source=source,
            destination=number.lstrip("+"),
            text=text,
            data_coding=0,
            encoding="gsm7",
            received_at=self.platform.now(),
        )
        self.call(lambda: self.sink.accept([message]))

    def start_simulator(self) -> None:
        """An SMSC simulator on the server's loop, with a receiver connector bound to it
        that feeds the same ingest sink."""
        from smslocker.gateway import Connector, ConnectorConfig
        from smslocker.simulator import Account, Simulator, SimulatorConfig

        async def start() -> None:
            self.simulator = Simulator(
                SimulatorConfig(port=0, accounts=(Account("web", "secret"),))
            )
            await self.simulator.start()
            self.connector = Connector(
                ConnectorConfig(
                    name="sim",
                    host="127.0.0.1",
                    port=self.simulator.port,
                    system_id="web",
                    password="secret",
                ),
                self.sink,
            )
            self.connector.start()
            await self.simulator.wait_for_receiver(timeout=20)

        self.call(start)


@contextlib.contextmanager
def live_server(data_dir: Path) -> Iterator[LiveServer]:
    server = LiveServer(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
