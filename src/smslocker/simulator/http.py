"""The simulator's HTTP API: inject MO messages, watch them, switch misbehaviour, run load.

    POST /mo          {"source", "destination", "text", "data_coding"?, "split"?, "shuffle"?}
                      -> 202 {"id", "parts"}
    GET  /mo/{id}     the message's state and attempts, per part
    GET  /sessions    bound sessions
    GET  /stats       counters
    GET  /control     the current misbehaviour mode
    POST /control     {"mode", "count"?, "delay"?}
    POST /load        {"count", "rate"?, "numbers"?, "window"?, "timeout"?} -> the LoadReport
    GET  /healthz

Bad input gets a 4xx with a message, never a 500 (DESIGN.md guarantee 4):
pydantic rejects malformed bodies with 422, :class:`InvalidRequest` (a text the
coding cannot carry, an address SMPP cannot carry) is 422 too, and a load with
nobody bound to receive it is 409. Only :class:`Simulator`'s public methods are
called. :class:`HttpApi` serves the app with uvicorn on the simulator's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from dataclasses import asdict
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from smslocker import __version__

from .behaviour import Mode
from .errors import InvalidRequest, NoReceiver, SimulatorError
from .smsc import Simulator


class MoRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=20, examples=["+447700900123"])
    destination: str = Field(min_length=1, max_length=20, examples=["447700900456"])
    text: str = Field(max_length=100_000, examples=["Your code is 482913"])
    data_coding: int | None = Field(
        default=None, ge=0, le=255, description="Absent: GSM 03.38 if the text fits, else UCS2."
    )
    split: Literal["udh8", "udh16", "sar", "payload"] | None = Field(
        default=None, description="How a long text is cut (absent: udh8)."
    )
    shuffle: bool = Field(default=False, description="Send the parts out of order.")


class MoAccepted(BaseModel):
    id: str
    parts: int


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode
    count: int | None = Field(default=None, ge=0, description="unbind / drop_after: after N.")
    delay: float | None = Field(default=None, ge=0, le=3600, description="slow_acks: seconds.")


class LoadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=100_000_000)
    rate: float = Field(default=0.0, ge=0, description="messages per second; 0 = flat out")
    numbers: int = Field(default=1, ge=1, le=1_000_000)
    window: int = Field(default=100, ge=1, le=100_000)
    timeout: float | None = Field(default=None, gt=0)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": message})


def create_app(simulator: Simulator) -> FastAPI:
    """The FastAPI app over one simulator."""
    app = FastAPI(title="smslocker SMSC simulator", version=__version__)

    @app.exception_handler(InvalidRequest)
    async def _invalid(request: Request, error: Exception) -> JSONResponse:
        return _error(422, str(error))

    @app.exception_handler(NoReceiver)
    async def _no_receiver(request: Request, error: Exception) -> JSONResponse:
        return _error(409, str(error))

    @app.exception_handler(SimulatorError)
    async def _conflict(request: Request, error: Exception) -> JSONResponse:
        return _error(409, str(error))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "smpp_port": simulator.port}

    @app.post("/mo", status_code=202)
    async def post_mo(body: MoRequest) -> MoAccepted:
        message_id = simulator.inject_mo(
            body.source,
            body.destination,
            body.text,
            data_coding=body.data_coding,
            split=body.split,
            shuffle=body.shuffle,
        )
        status = simulator.message(message_id)
        return MoAccepted(id=message_id, parts=len(status.parts) if status else 0)

    @app.get("/mo/{message_id}")
    async def get_mo(message_id: str) -> JSONResponse:
        status = simulator.message(message_id)
        if status is None:
            return _error(404, f"no message {message_id!r}")
        return JSONResponse(asdict(status))

    @app.get("/sessions")
    async def sessions() -> list[dict[str, Any]]:
        return [asdict(session) for session in simulator.sessions()]

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return asdict(simulator.stats())

    @app.get("/control")
    async def get_control() -> dict[str, Any]:
        return _mode(simulator)

    @app.post("/control")
    async def post_control(body: ControlRequest) -> dict[str, Any]:
        simulator.set_mode(body.mode, count=body.count, delay=body.delay)
        return _mode(simulator)

    @app.post("/load")
    async def post_load(body: LoadRequest) -> dict[str, Any]:
        report = await simulator.run_load(
            body.count, body.rate, body.numbers, body.window, timeout=body.timeout
        )
        return asdict(report)

    return app


def _mode(simulator: Simulator) -> dict[str, Any]:
    settings = simulator.mode
    return {"mode": settings.mode.value, "count": settings.count, "delay": settings.delay}


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the process hosting the simulator owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpApi:
    """The HTTP API served by uvicorn inside the running event loop."""

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 8775) -> None:
        self.simulator = simulator
        self.host = host
        self.requested_port = port
        self.app = create_app(simulator)
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise SimulatorError("the HTTP API is not running")
        return int(self._socket.getsockname()[1])

    async def start(self) -> None:
        # The socket is bound and listening before uvicorn starts: the port is known
        # (also when 0 was asked for) and clients can connect at once.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._socket = socket.create_server((self.host, self.requested_port), family=family)
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            log_config=None,
            access_log=False,
            lifespan="off",
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.get_running_loop().create_task(
            self._server.serve(sockets=[self._socket]), name="simulator-http"
        )
        while not self._server.started:
            if self._task.done():
                self._task.result()  # startup failed: raise its error here
                raise SimulatorError("the HTTP API stopped during startup")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = None
        self._task = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
