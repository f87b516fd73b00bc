"""Running ``smslocker serve`` and other commands as real processes in tests.

``environment(data)`` gives a clean environment (no ``SMSLOCKER_*`` from the shell) with
its data folder; ``cli`` runs a command to its end; ``serve`` starts the server on a
free port and yields it once its ready line is out (killed afterwards if still running).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Seconds a process may take to start (imports, migrations) or to stop.
START_S = 60.0
STOP_S = 30.0


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    ready: dict[str, Any]
    stderr: Path


def environment(data: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMSLOCKER_")}
    env.update(
        SMSLOCKER_DATA_DIR=str(data),
        SMSLOCKER_LOG_LEVEL="INFO",
        SMSLOCKER_LOG_FORMAT="json",
        **extra,
    )
    return env


async def cli(cwd: Path, env: dict[str, str], *args: str) -> list[str]:
    """Run ``smslocker ARGS``; its stdout lines (fails on a non-zero exit)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smslocker",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), START_S)
    assert process.returncode == 0, err.decode()
    return out.decode().splitlines()


@contextlib.asynccontextmanager
async def serve(cwd: Path, env: dict[str, str], *args: str) -> AsyncIterator[Served]:
    """``smslocker serve --port 0 ARGS`` until its ready line; killed if still running."""
    stderr = cwd / f"serve{'-'.join(('', *args))}.log"
    with stderr.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smslocker",
            "serve",
            "--port",
            "0",
            *args,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_S)
        assert line, f"serve ended before it was ready:\n{stderr.read_text()}"
        ready = json.loads(line)
        assert ready["event"] == "ready"
        yield Served(process, ready["url"], ready, stderr)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
