"""PyPI ``smpplib`` as an ESME, driven from an asyncio test.

smpplib is synchronous: its ``Client`` reads with blocking sockets. :class:`SmpplibEsme`
runs one in a worker thread (``asyncio.to_thread``) while the code under test keeps the
event loop; the test sends commands through a thread-safe queue, and every PDU the client
reads or sends comes back to the loop as an event in an :class:`EventLog`, the same kind of
log the node peers fill.
"""

from __future__ import annotations

import asyncio
import queue
import select
from dataclasses import dataclass, field
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
from interop_helpers import Event, EventLog

# TLVs of a deliver_sm worth reporting (smpplib names).
_DELIVER_SM_TLVS = (
    "sar_msg_ref_num",
    "sar_total_segments",
    "sar_segment_seqnum",
    "message_payload",
    "receipted_message_id",
    "message_state",
    "network_error_code",
    "user_message_reference",
)
_POLL_INTERVAL = 0.02


def _plain(value: Any) -> Any:
    """smpplib hands back str fields as bytes; JSON-like events want text (and hex)."""
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            return value.hex()
    return value


def describe_deliver_sm(pdu: Any) -> Event:
    short_message = pdu.short_message or b""
    tlvs = {}
    for name in _DELIVER_SM_TLVS:
        value = getattr(pdu, name, None)
        if value is not None:
            tlvs[name] = (
                value.hex() if name in {"message_payload", "network_error_code"} else _plain(value)
            )
    return {
        "event": "deliver_sm",
        "sequence": pdu.sequence,
        "source_addr": _plain(pdu.source_addr),
        "destination_addr": _plain(pdu.destination_addr),
        "source_addr_ton": pdu.source_addr_ton,
        "dest_addr_ton": pdu.dest_addr_ton,
        "esm_class": pdu.esm_class or 0,
        "data_coding": pdu.data_coding or 0,
        "registered_delivery": pdu.registered_delivery or 0,
        "short_message_hex": bytes(short_message).hex(),
        "tlvs": tlvs,
    }


class _ReportingClient(smpplib.client.Client):
    """A Client that reports every PDU it reads."""

    def __init__(self, report: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._report = report

    def read_pdu(self) -> Any:
        pdu = super().read_pdu()
        self._report(
            {
                "event": "read",
                "command": pdu.command,
                "sequence": pdu.sequence,
                "status": pdu.status,
                "message_id": _plain(getattr(pdu, "message_id", None)),
            }
        )
        return pdu


@dataclass
class SmpplibEsme:
    """One smpplib client bound as a transceiver, in a worker thread.

    Commands (``submit``, ``enquire_link``, ``unbind``) are queued with :meth:`command` and
    run between reads. ``deliver_sm_status`` is what the client answers deliver_sm with.
    """

    host: str
    port: int
    system_id: str
    password: str
    deliver_sm_status: int = 0
    log: EventLog = field(default_factory=lambda: EventLog("smpplib"))
    _commands: queue.Queue[tuple[str, dict[str, Any]]] = field(default_factory=queue.Queue)
    _loop: asyncio.AbstractEventLoop | None = None
    _task: asyncio.Future[None] | None = None

    def _report(self, event: Event) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self.log.append, event)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.ensure_future(asyncio.to_thread(self._run))

    def command(self, name: str, **arguments: Any) -> None:
        self._commands.put((name, arguments))

    async def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to disconnect (without unbinding) and wait for it."""
        self.command("stop")
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout)

    # -- the worker thread -------------------------------------------------------

    def _run(self) -> None:
        client = _ReportingClient(
            self._report,
            host=self.host,
            port=self.port,
            timeout=5,
            allow_unknown_opt_params=True,
        )
        client.set_message_received_handler(self._on_deliver_sm)
        client.set_message_sent_handler(lambda pdu, **_: None)  # reported by read_pdu
        try:
            client.connect()
            try:
                resp = client.bind_transceiver(system_id=self.system_id, password=self.password)
            except smpplib.exceptions.PDUError as error:
                self._report({"event": "bind_failed", "status": error.args[1]})
                return
            self._report(
                {
                    "event": "bound",
                    "system_id": _plain(resp.system_id),
                    "sc_interface_version": getattr(resp, "sc_interface_version", None),
                }
            )
            self._serve(client)
        except Exception as error:  # reported, so that the test shows it rather than hangs
            self._report({"event": "error", "error": repr(error)})
        finally:
            client.disconnect()
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self.log.finish)

    def _serve(self, client: Any) -> None:
        while True:
            try:
                name, arguments = self._commands.get_nowait()
            except queue.Empty:
                pass
            else:
                if name == "stop":
                    return
                if self._execute(client, name, arguments):
                    return
            readable, _, _ = select.select([client._socket], [], [], _POLL_INTERVAL)
            if readable:
                client.read_once(auto_send_enquire_link=False)

    def _execute(self, client: Any, name: str, arguments: dict[str, Any]) -> bool:
        """Run one command; True when the session is over."""
        if name == "submit":
            pdu = client.send_message(**arguments)
            self._report({"event": "sent_submit_sm", "sequence": pdu.sequence})
        elif name == "enquire_link":
            pdu = smpplib.smpp.make_pdu("enquire_link", client=client)
            client.send_pdu(pdu)
            self._report({"event": "sent_enquire_link", "sequence": pdu.sequence})
        elif name == "unbind":
            client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
            # Client.unbind() takes whatever PDU comes next for the answer; wait for the real one.
            while True:
                resp = client.read_pdu()
                if resp.command == "unbind_resp":
                    break
            self._report({"event": "unbind_resp", "status": resp.status})
            return True
        else:
            raise ValueError(f"unknown command {name}")
        return False

    def _on_deliver_sm(self, pdu: Any, **_: Any) -> int:
        self._report(describe_deliver_sm(pdu))
        return self.deliver_sm_status
