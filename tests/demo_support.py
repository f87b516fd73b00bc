"""``smslocker demo`` as a real process, for the demo's tests and the README walk-through.

The demo runs on free ports (``0``: the ready line and ``demo.env`` tell which) with
its data folder in the test's temporary directory; it is stopped with SIGINT, as Ctrl-C
would. A module of its own (not conftest.py) so test modules import it by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Seconds the demo may take to start (imports, migrations, seeding, the bind) or stop.
START_S = 90.0
STOP_S = 30.0
#: The banner's line that comes after the keys: the demo is ready once it is read.
LAST_LINE_READ = "URLs and keys for a shell"


@dataclass
class RunningDemo:
    process: asyncio.subprocess.Process
    ready: dict[str, Any]
    banner: list[str]
    env: dict[str, str]
    """What ``demo.env`` exports: SMSLOCKER_URL, SIMULATOR_URL, KEY, ADMIN_KEY."""
    stderr: Path
    returncode: int | None = field(default=None)

    @property
    def url(self) -> str:
        return self.env["SMSLOCKER_URL"]

    @property
    def simulator_url(self) -> str:
        return self.env["SIMULATOR_URL"]

    def banner_value(self, label: str) -> str:
        """The first word after ``label`` on its banner line (``"user key"`` -> the key)."""
        for line in self.banner:
            if line.strip().startswith(label):
                return line.strip()[len(label) :].split()[0]
        raise AssertionError(f"no {label!r} in the banner:\n" + "\n".join(self.banner))


def demo_environment(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment without the caller's SMSLOCKER_* settings, on ``data_dir``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SMSLOCKER_")}
    env.update(SMSLOCKER_DATA_DIR=str(data_dir), SMSLOCKER_LOG_FORMAT="json", **extra)
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """The ``export NAME=value`` lines of ``demo.env``, as the shell would read them."""
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            values[name] = shlex.split(value)[0]
    return values


@contextlib.asynccontextmanager
async def running_demo(cwd: Path, env: dict[str, str], *args: str) -> AsyncIterator[RunningDemo]:
    """``smslocker demo`` on free ports until its banner is out; stopped with SIGINT after
    (``returncode`` then tells how it ended), killed if it does not stop."""
    stderr = _new_log(cwd)
    command = ["demo", "--port", "0", "--smpp-port", "0", "--sim-http-port", "0", *args]
    with stderr.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smslocker",
            *command,
            cwd=cwd,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
    try:
        ready, banner = await asyncio.wait_for(_read_banner(process, stderr), START_S)
        data_dir = Path(env["SMSLOCKER_DATA_DIR"])
        demo = RunningDemo(process, ready, banner, read_env_file(data_dir / "demo.env"), stderr)
        yield demo
        process.send_signal(signal.SIGINT)
        demo.returncode = await asyncio.wait_for(process.wait(), STOP_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _read_banner(
    process: asyncio.subprocess.Process, stderr: Path
) -> tuple[dict[str, Any], list[str]]:
    assert process.stdout is not None
    first = await process.stdout.readline()
    assert first, f"the demo ended before it was ready:\n{_text(stderr)}"
    ready = json.loads(first)
    assert ready["event"] == "ready"
    banner: list[str] = []
    while not banner or LAST_LINE_READ not in banner[-1]:
        line = await process.stdout.readline()
        assert line, f"the demo ended before its banner:\n{_text(stderr)}"
        banner.append(line.decode().rstrip("\n"))
    return ready, banner


def _new_log(folder: Path) -> Path:
    """A file for the next demo's stderr in ``folder`` (a test may start several)."""
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"demo-{len(list(folder.glob('demo-*.log')))}.log"


def _text(path: Path) -> str:
    return path.read_text(errors="replace")
