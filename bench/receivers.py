"""The two receivers the SMPP ingest benchmark compares, each run as its own process.

``ceiling``: the least an asyncio receiver can do — split PDUs by their
length, answer every deliver_sm with a header-only deliver_sm_resp, one write
per read. No decoding at all: the floor of CPU per message in Python.

``connector``: smslocker's own connector (decode, reassembly path, text
decoding, one sink call per read, acks after the sink returns) with a sink
that does nothing.

Each prints one JSON line: messages, the CPU seconds (user + system, from the
OS) and wall seconds spent between the first and the last message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import sys
import time
from collections.abc import Sequence

HEADER = struct.Struct(">IIII")


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


class Meter:
    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.first_cpu = 0.0
        self.first_wall = 0.0
        self.done: asyncio.Future[dict[str, float]] = asyncio.get_running_loop().create_future()

    def add(self, n: int) -> None:
        if self.seen == 0:
            self.first_cpu = cpu_seconds()
            self.first_wall = time.perf_counter()
        self.seen += n
        if self.seen >= self.count and not self.done.done():
            self.done.set_result(
                {
                    "messages": self.seen,
                    "cpu_s": cpu_seconds() - self.first_cpu,
                    "wall_s": time.perf_counter() - self.first_wall,
                }
            )


class CeilingProtocol(asyncio.Protocol):
    def __init__(self, meter: Meter, system_id: str, password: str) -> None:
        self.meter = meter
        self.buffer = b""
        self.system_id = system_id
        self.password = password

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        body = self.system_id.encode() + b"\0" + self.password.encode() + b"\0\0\x34\0\0\0"
        transport.write(HEADER.pack(16 + len(body), 0x00000009, 0, 1) + body)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        position = 0
        end = len(buffer)
        out = bytearray()
        count = 0
        while end - position >= 16:
            length, command_id, _status, sequence = HEADER.unpack_from(buffer, position)
            if end - position < length:
                break
            if command_id == 0x00000005:
                out += HEADER.pack(17, 0x80000005, 0, sequence) + b"\0"
                count += 1
            elif command_id == 0x00000015:
                out += HEADER.pack(16, 0x80000015, 0, sequence)
            position += length
        self.buffer = buffer[position:]
        if out:
            self.transport.write(bytes(out))
        if count:
            self.meter.add(count)


class NullSink:
    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    async def accept(self, batch: Sequence[object]) -> None:
        self.meter.add(len(batch))


async def run(kind: str, host: str, port: int, count: int, system_id: str, password: str) -> None:
    meter = Meter(count)
    loop = asyncio.get_running_loop()
    if kind == "ceiling":
        transport, _ = await loop.create_connection(
            lambda: CeilingProtocol(meter, system_id, password), host, port
        )
        result = await meter.done
        await asyncio.sleep(0.2)  # let the last acks leave
        transport.close()
    else:
        from smslocker.gateway import Connector, ConnectorConfig

        config = ConnectorConfig(
            name="bench",
            host=host,
            port=port,
            system_id=system_id,
            password=password,
            window=100,
            max_unacked=1_000_000,
            ghost_timeout=None,
        )
        connector = Connector(config, NullSink(meter))
        connector.start()
        result = await meter.done
        await asyncio.sleep(0.2)
        await connector.stop()
    print(json.dumps({"receiver": kind, **result}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["ceiling", "connector"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--system-id", default="bench")
    parser.add_argument("--password", default="bench")
    args = parser.parse_args()
    asyncio.run(run(args.kind, args.host, args.port, args.count, args.system_id, args.password))
    sys.exit(0)


if __name__ == "__main__":
    main()
