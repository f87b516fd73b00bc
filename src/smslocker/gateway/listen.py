"""``smslocker listen``: one connector whose sink prints each message as a JSON line.

Operators use it to check a carrier link; it is also the shortest way to see
the stack work end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .config import ConnectorConfig
from .connector import Connector
from .messages import InboundEvent, InboundMessage


def message_json(message: InboundMessage) -> dict[str, Any]:
    """The JSON fields of one message, as ``listen`` prints them."""
    return {
        "kind": "message",
        "source": message.source,
        "destination": message.destination,
        "text": message.text,
        "data_coding": message.data_coding,
        "parts": message.parts,
        "smsc_timestamp": message.smsc_timestamp.isoformat() if message.smsc_timestamp else None,
        "received_at": message.received_at.isoformat(),
        "connector": message.connector,
        "encoding": message.encoding,
        "complete": message.complete,
        "lossy": message.lossy,
        "binary": message.binary.hex() if message.binary is not None else None,
    }


class PrintSink:
    """Writes every message and receipt to ``stream`` as one JSON line, then flushes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        lines = []
        for event in batch:
            if isinstance(event, InboundMessage):
                lines.append(json.dumps(message_json(event), ensure_ascii=False))
            else:
                receipt = event.receipt
                lines.append(
                    json.dumps(
                        {
                            "kind": "receipt",
                            "message_id": receipt.message_id,
                            "state": receipt.state,
                            "source": receipt.source,
                            "destination": receipt.destination,
                            "error": receipt.error,
                            "received_at": event.received_at.isoformat(),
                            "connector": event.connector,
                        },
                        ensure_ascii=False,
                    )
                )
        self.stream.write("\n".join(lines) + "\n")
        # Flushed before returning, so the PDU is acked only once its line is out.
        self.stream.flush()


async def listen(config: ConnectorConfig, stream: TextIO | None = None) -> None:
    """Run one connector until SIGINT/SIGTERM, then unbind."""
    connector = Connector(config, PrintSink(stream))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    task = connector.start()
    stopper = loop.create_task(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    await connector.stop()
