"""Plumbing shared by the interop tests: peers as subprocesses, free ports, JSON lines.

A peer (one of the node scripts in ``tests/interop/node``) reports everything it sees as
one JSON object per line on stdout. :class:`PeerProcess` reads those lines as they come,
keeps them in ``events``, and lets a test wait for the one it needs. A peer exits when its
stdin closes, which :func:`run_peer` does on the way out, killing it if it lingers: no peer
outlives its test.

The splitters at the bottom cut test texts into segment-sized pieces the way a sender
must (SMPP.md §7.2, §7.3): never through a GSM escape pair or a UTF-16 surrogate pair.
They are written here, independently of ``smslocker.smpp``, so that the tests do not
derive their expectations from the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

Event = dict[str, Any]
Predicate = Callable[[Event], bool]

#: How long a peer may take to exit after its stdin closed before it is killed.
EXIT_GRACE = 3.0


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def matches(event_name: str, **fields: Any) -> Predicate:
    """A predicate: the event is called ``event_name`` and has these field values."""

    def predicate(event: Event) -> bool:
        return event.get("event") == event_name and all(
            event.get(key) == value for key, value in fields.items()
        )

    return predicate


class EventLog:
    """Events (dicts with an ``"event"`` name) as a peer reports them; tests wait on them.

    ``append`` must run on the event loop's thread (a worker thread uses
    ``loop.call_soon_threadsafe(log.append, event)``).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list[Event] = []
        self.finished = False
        self._changed = asyncio.Event()

    def append(self, event: Event) -> None:
        self.events.append(event)
        self._changed.set()

    def finish(self) -> None:
        """No more events will come: waiters stop waiting."""
        self.finished = True
        self._changed.set()

    def find(self, predicate: Predicate) -> list[Event]:
        """Every event so far that satisfies ``predicate``, in the order reported."""
        return [event for event in self.events if predicate(event)]

    def find_event(self, event_name: str, **fields: Any) -> list[Event]:
        return self.find(matches(event_name, **fields))

    async def wait_for(self, predicate: Predicate, timeout: float = 5.0, count: int = 1) -> Event:
        """The ``count``-th event satisfying ``predicate``, waiting up to ``timeout`` seconds.

        Fails the test with what the peer reported when it does not come (or the peer ends).
        """
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while True:
                    # Cleared before looking: an append from now on wakes the wait below.
                    self._changed.clear()
                    if len(self.find(predicate)) >= count or self.finished:
                        break
                    await self._changed.wait()
        found = self.find(predicate)
        if len(found) >= count:
            return found[count - 1]
        state = "ended" if self.finished else f"still running after {timeout}s"
        raise AssertionError(f"{self.name} {state} without the awaited event\n{self.describe()}")

    async def wait_event(
        self, event_name: str, timeout: float = 5.0, count: int = 1, **fields: Any
    ) -> Event:
        return await self.wait_for(matches(event_name, **fields), timeout, count)

    def describe(self) -> str:
        lines = [json.dumps(event, ensure_ascii=False, default=repr) for event in self.events[-60:]]
        return f"--- {self.name} (last {len(lines)} events) ---\n" + "\n".join(lines)


class PeerProcess(EventLog):
    """A running peer process and the JSON lines it printed so far."""

    def __init__(
        self, name: str, process: asyncio.subprocess.Process, *, terminate: bool = False
    ) -> None:
        super().__init__(name)
        self.process = process
        self.terminate = terminate
        self.stderr = ""
        self._readers = [
            asyncio.create_task(self._read_stdout(), name=f"{name}:stdout"),
            asyncio.create_task(self._read_stderr(), name=f"{name}:stderr"),
        ]

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        try:
            async for raw in self.process.stdout:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    event = {"event": "stdout", "line": line}
                self.append(event)
        finally:
            self.finish()

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.stderr += raw.decode("utf-8", errors="replace")

    def describe(self) -> str:
        return super().describe() + f"\n--- {self.name} stderr ---\n{self.stderr[-4000:]}"

    async def send(self, message: dict[str, Any]) -> None:
        """Write one JSON command line to the peer's stdin."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def close(self) -> int | None:
        """Close stdin (the peer's cue to exit; SIGTERM too for a peer that wants that),
        wait for it, kill it if it lingers."""
        process = self.process
        if process.stdin is not None and not process.stdin.is_closing():
            process.stdin.close()
            with contextlib.suppress(ConnectionError):
                await process.stdin.wait_closed()
        if self.terminate and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        try:
            await asyncio.wait_for(process.wait(), EXIT_GRACE)
        except TimeoutError:
            process.kill()
            await process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
        return process.returncode


@contextlib.asynccontextmanager
async def run_peer(
    argv: Sequence[str], *, name: str, cwd: Path | None = None, terminate: bool = False
) -> AsyncIterator[PeerProcess]:
    """Start a peer process with pipes on all three streams; stop it on the way out
    (``terminate``: with SIGTERM, for a peer that does not watch its stdin)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_NO_WARNINGS": "1"},
    )
    peer = PeerProcess(name, process, terminate=terminate)
    try:
        yield peer
    finally:
        await peer.close()


@contextlib.asynccontextmanager
async def run_node_script(
    node_dir: Path, script: str, config: dict[str, Any]
) -> AsyncIterator[PeerProcess]:
    """Run ``node <node_dir>/<script> '<config as JSON>'`` as a peer."""
    async with run_peer(
        ["node", str(node_dir / script), json.dumps(config)], name=script, cwd=node_dir
    ) as peer:
        yield peer


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- splitting text

#: Characters of the GSM 03.38 extension table: each costs two septets (SMPP.md §7.1).
GSM_EXTENSION_CHARACTERS = frozenset("\f^{}\\[~]|€")


def gsm_septets(text: str) -> int:
    return sum(2 if char in GSM_EXTENSION_CHARACTERS else 1 for char in text)


def split_gsm(text: str, septets: int = 153) -> list[str]:
    """Cut ``text`` into pieces of at most ``septets`` septets, never inside an escape pair."""
    pieces: list[str] = []
    current, used = "", 0
    for char in text:
        cost = 2 if char in GSM_EXTENSION_CHARACTERS else 1
        if used + cost > septets:
            pieces.append(current)
            current, used = "", 0
        current += char
        used += cost
    if current:
        pieces.append(current)
    return pieces


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-be")) // 2


def split_ucs2(text: str, units: int = 67) -> list[str]:
    """Cut ``text`` into pieces of at most ``units`` UTF-16 code units, never inside a pair."""
    pieces: list[str] = []
    current, used = "", 0
    for char in text:
        cost = 2 if ord(char) > 0xFFFF else 1
        if used + cost > units:
            pieces.append(current)
            current, used = "", 0
        current += char
        used += cost
    if current:
        pieces.append(current)
    return pieces


# --------------------------------------------------------------------------- reading user data

# GSM 03.38 basic table and extension table (SMPP.md §7.1), for checking raw octets.
GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}


def decode_gsm_unpacked(octets: bytes) -> str:
    """Unpacked GSM 03.38 septets (one per octet) to text; raises on anything else."""
    text, escaped = [], False
    for octet in octets:
        if octet > 0x7F:
            raise ValueError(f"not a septet: {octet:#x}")
        if escaped:
            text.append(GSM_EXTENSION[octet])
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            text.append(GSM_BASIC[octet])
    if escaped:
        raise ValueError("user data ends inside an escape pair")
    return "".join(text)


def decode_user_data(octets: bytes, data_coding: int) -> str:
    """The text of one segment's user data (UDH removed) for the codings the tests use."""
    if data_coding in (0x00, 0x01):
        return decode_gsm_unpacked(octets)
    if data_coding == 0x08:
        if len(octets) % 2:
            raise ValueError("odd number of UCS2 octets")
        return octets.decode("utf-16-be")
    if data_coding == 0x03:
        return octets.decode("latin-1")
    raise ValueError(f"data_coding {data_coding:#x} not expected in these tests")


def split_udh(user_data: bytes) -> tuple[dict[int, bytes], bytes]:
    """A user data header's information elements by IEI, and the rest (SMPP.md §8.1)."""
    length = user_data[0]
    header, rest = user_data[1 : 1 + length], user_data[1 + length :]
    elements: dict[int, bytes] = {}
    position = 0
    while position < len(header):
        iei, size = header[position], header[position + 1]
        elements[iei] = header[position + 2 : position + 2 + size]
        assert len(elements[iei]) == size, f"truncated IE {iei:#x} in {user_data.hex()}"
        position += 2 + size
    assert position == len(header), f"bad UDH {user_data.hex()}"
    return elements, rest


def concat_reference(elements: dict[int, bytes]) -> tuple[int, int, int]:
    """(reference, total, number) from an 8-bit (0x00) or 16-bit (0x08) concatenation IE."""
    if 0x00 in elements:
        reference, total, number = elements[0x00]
        return reference, total, number
    if 0x08 in elements:
        value = elements[0x08]
        return int.from_bytes(value[:2], "big"), value[2], value[3]
    raise AssertionError(f"no concatenation IE in {elements}")


# --------------------------------------------------------------------------- our simulator

#: The account the interop peers bind to our simulator with.
SIMULATOR_SYSTEM_ID = "interop"
SIMULATOR_PASSWORD = "pw1234"
