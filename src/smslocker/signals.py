"""Waiting for SIGINT/SIGTERM in a long-running command (gateway, serve)."""

from __future__ import annotations

import asyncio
import contextlib
import signal


async def wait_for_stop_signal() -> None:
    """Return when the process gets SIGINT or SIGTERM; the handlers are removed after."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Not possible off the main thread or on Windows: then only the process's end stops us.
    unsupported = (NotImplementedError, RuntimeError, ValueError)
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(*unsupported):
            loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(*unsupported):
                loop.remove_signal_handler(signum)
