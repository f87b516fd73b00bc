"""The receivers the SMPP ingest benchmark compares, each run as its own process.

``ceiling``: the least a real asyncio receiver can do, written by hand for
speed — split PDUs by their length; from each deliver_sm take source_addr,
destination_addr, data_coding and short_message (walking the mandatory
C-strings by their NULs) and decode the text as Latin-1 (ASCII in practice);
hand the read's ``(source, destination, data_coding, text)`` tuples to the
meter; answer each deliver_sm with a deliver_sm_resp (the 16-octet header and
the empty message_id, 17 octets, the same bytes the connector sends), one
write per read. No validation, no GSM table, no objects: what any useful
receiver must at least pay per message.

``floor``: the ceiling minus the decoding — split, ack, count. Nobody could
use it (it does not know what it received); it is reported so that the cost
of Python's framing and acking alone is visible.

``connector``: smslocker's own connector (session state machine, every
deliver_sm validated, ordinary ones as records and the rest as typed PDUs
through the reassembly path, GSM 03.38 decoding, an InboundMessage per
message, one sink call per read, acks after the sink returns) with a sink that
does nothing.

Each prints one JSON line: messages, the CPU seconds (user + system, from the
OS) and wall seconds spent between the first and the last message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import struct
import sys
import time
from collections.abc import Sequence

HEADER = struct.Struct(">IIII")
# deliver_sm_resp: the header and an empty message_id C-string (SMPP.md §3.6).
DELIVER_SM_RESP = struct.Struct(">IIIIB")
ENQUIRE_LINK_RESP = 0x80000015
KINDS = ("ceiling", "floor", "connector")


def cpu_seconds() -> float:
    """User + system CPU time of this process, from the OS, to the microsecond.

    Not ``os.times()``: it counts in clock ticks (10 ms), so a short run measured
    0 s and the benchmark divided by zero.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    """Counts what a receiver handed on; records CPU and wall time from the first message."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.first_cpu = 0.0
        self.first_wall = 0.0
        self.done: asyncio.Future[dict[str, float]] = asyncio.get_running_loop().create_future()

    def accept(self, batch: Sequence[object]) -> None:
        self.add(len(batch))

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


class _HandWritten(asyncio.Protocol):
    """Binds as a transceiver and keeps the undecoded tail of the last read."""

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


class CeilingProtocol(_HandWritten):
    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        unpack = HEADER.unpack_from
        ack = DELIVER_SM_RESP.pack
        position = 0
        end = len(buffer)
        acks = []
        messages = []
        while end - position >= 16:
            length, command_id, _status, sequence = unpack(buffer, position)
            pdu_end = position + length
            if pdu_end > end:
                break
            if command_id == 0x00000005:
                # Offsets into the body are small ints (no allocation), into the read are not.
                body = buffer[position + 16 : pdu_end]
                # service_type, source TON and NPI, source_addr, destination TON and NPI,
                # destination_addr: the C-strings end at their NULs (a TON or NPI octet may
                # be 0, so each search starts after them).
                service_end = body.index(0)
                source_end = body.index(0, service_end + 3)
                destination_end = body.index(0, source_end + 3)
                # esm_class, protocol_id, priority_flag, then the two time C-strings: one
                # NUL each when absent, as in deliver_sm (else 16 characters and a NUL).
                field = destination_end + 4
                field = field + 1 if body[field] == 0 else body.index(0, field) + 1
                field = field + 1 if body[field] == 0 else body.index(0, field) + 1
                # registered_delivery, replace_if_present_flag, data_coding,
                # sm_default_msg_id, sm_length, short_message.
                text_start = field + 5
                messages.append(
                    (
                        body[service_end + 3 : source_end].decode("latin-1"),
                        body[source_end + 3 : destination_end].decode("latin-1"),
                        body[field + 2],
                        body[text_start : text_start + body[field + 4]].decode("latin-1"),
                    )
                )
                acks.append(ack(17, 0x80000005, 0, sequence, 0))
            elif command_id == 0x00000015:
                acks.append(HEADER.pack(16, ENQUIRE_LINK_RESP, 0, sequence))
            position = pdu_end
        self.buffer = buffer[position:]
        if acks:
            self.transport.write(b"".join(acks))
        if messages:
            self.meter.accept(messages)


class FloorProtocol(_HandWritten):
    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        unpack = HEADER.unpack_from
        ack = DELIVER_SM_RESP.pack
        position = 0
        end = len(buffer)
        acks = []
        count = 0
        while end - position >= 16:
            length, command_id, _status, sequence = unpack(buffer, position)
            if end - position < length:
                break
            if command_id == 0x00000005:
                acks.append(ack(17, 0x80000005, 0, sequence, 0))
                count += 1
            elif command_id == 0x00000015:
                acks.append(HEADER.pack(16, ENQUIRE_LINK_RESP, 0, sequence))
            position += length
        self.buffer = buffer[position:]
        if acks:
            self.transport.write(b"".join(acks))
        if count:
            self.meter.add(count)


class NullSink:
    def __init__(self, meter: Meter) -> None:
        self.meter = meter

    async def accept(self, batch: Sequence[object]) -> None:
        self.meter.accept(batch)


async def run(kind: str, host: str, port: int, count: int, system_id: str, password: str) -> None:
    meter = Meter(count)
    loop = asyncio.get_running_loop()
    if kind in ("ceiling", "floor"):
        protocol = CeilingProtocol if kind == "ceiling" else FloorProtocol
        transport, _ = await loop.create_connection(
            lambda: protocol(meter, system_id, password), host, port
        )
        result = await meter.done
        await asyncio.sleep(0.05)  # let the last acks leave
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
        await asyncio.sleep(0.05)
        await connector.stop()
    print(json.dumps({"receiver": kind, **result}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=KINDS)
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
