"""``smslocker listen`` end to end: the real command in a subprocess, bound to the fake SMSC.

What these tests prove:

- ``listen`` binds with the options given (receiver, system_id, password) and prints one
  JSON line per message on stdout — nothing else goes to stdout — with ``source``,
  ``destination``, ``text``, ``data_coding``, ``parts``, ``smsc_timestamp``,
  ``received_at`` and ``connector`` right, for a GSM message carrying an SCTS, a UCS2
  message and a long message sent last part first;
- every deliver_sm is acked with status 0, and only once its line was printed;
- SIGTERM makes it unbind and exit 0;
- ``--bind`` other than receiver/transceiver is refused with exit status 2;
- PrintSink writes receipts as ``kind: receipt`` lines.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fake_smsc import FakeSmsc
from gateway_support import HANDSET, NUMBER, mo, udh_parts, wait_until

from smslocker.gateway import InboundReceipt
from smslocker.gateway.listen import PrintSink
from smslocker.smpp.constants import CommandId as C
from smslocker.smpp.pdu import BindReceiver
from smslocker.smpp.receipts import parse_receipt

pytestmark = pytest.mark.timeout(30)

SMSLOCKER = Path(sys.executable).with_name("smslocker")


def _environment() -> dict[str, str]:
    # No SMSLOCKER_* settings from the developer's shell; logs stay on stderr.
    return {name: value for name, value in os.environ.items() if not name.startswith("SMSLOCKER_")}


async def _read_line(stream: asyncio.StreamReader, timeout: float = 10.0) -> dict[str, object]:
    line = await asyncio.wait_for(stream.readline(), timeout)
    assert line, "listen closed its stdout"
    data = json.loads(line)
    assert isinstance(data, dict)
    return data


async def test_listen_prints_json_lines_and_unbinds_on_sigterm(
    smsc: FakeSmsc, tmp_path: Path
) -> None:
    if not SMSLOCKER.exists():
        pytest.skip(f"{SMSLOCKER} is not installed (pip install -e .)")
    process = await asyncio.create_subprocess_exec(
        str(SMSLOCKER),
        "listen",
        "--host",
        "127.0.0.1",
        "--port",
        str(smsc.port),
        "--system-id",
        "listener",
        "--password",
        "pw",
        "--bind",
        "receiver",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,  # no smslocker.toml from the working tree
        env=_environment(),
    )
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        await wait_until(smsc.has_bound_connection, timeout=15)
        (bind,) = smsc.binds
        assert isinstance(bind, BindReceiver)
        assert (bind.system_id, bind.password) == ("listener", "pw")

        before = datetime.now(UTC)
        sent = smsc.deliver(mo("Your code is 123456", schedule_delivery_time="240115123456004+"))
        gsm = await _read_line(process.stdout)
        sent += smsc.deliver(mo("Привет 👋"))
        ucs2 = await _read_line(process.stdout)
        first, second = udh_parts(["A long message ", "in two parts"], 0x51)
        sent += smsc.deliver(second) + smsc.deliver(first)
        long = await _read_line(process.stdout)
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 4)
        assert [ack.status for ack in smsc.answers_to(sent, 0)] == [0, 0, 0, 0]

        process.send_signal(signal.SIGTERM)
        exit_status = await asyncio.wait_for(process.wait(), 10)
        rest = await process.stdout.read()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode(errors="replace")
    assert exit_status == 0, stderr
    assert rest == b"", "stdout carries JSON lines only"
    assert [r.connection for r in smsc.of_type(C.UNBIND)] == [0], "no unbind on SIGTERM"

    assert gsm["source"] == HANDSET
    assert gsm["destination"] == NUMBER
    assert gsm["text"] == "Your code is 123456"
    assert gsm["data_coding"] == 0
    assert gsm["parts"] == 1
    assert gsm["smsc_timestamp"] == "2024-01-15T12:34:56+01:00"
    assert gsm["connector"] == "listen"
    received_at = datetime.fromisoformat(str(gsm["received_at"]))
    assert before <= received_at <= datetime.now(UTC)
    assert (ucs2["text"], ucs2["data_coding"], ucs2["smsc_timestamp"]) == ("Привет 👋", 8, None)
    assert (long["text"], long["parts"]) == ("A long message in two parts", 2)
    for line in (gsm, ucs2, long):
        assert {
            "source",
            "destination",
            "text",
            "data_coding",
            "parts",
            "smsc_timestamp",
            "received_at",
            "connector",
        } <= set(line)


async def test_listen_refuses_a_transmitter_bind(tmp_path: Path) -> None:
    if not SMSLOCKER.exists():
        pytest.skip(f"{SMSLOCKER} is not installed (pip install -e .)")
    process = await asyncio.create_subprocess_exec(
        str(SMSLOCKER),
        "listen",
        "--port",
        "9",
        "--bind",
        "transmitter",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env=_environment(),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert stdout == b""
    assert b"--bind" in stderr


async def test_print_sink_writes_receipts_as_receipt_lines() -> None:
    stream = io.StringIO()
    receipt = parse_receipt(
        "id:4F2A01BC sub:001 dlvrd:001 submit date:2401151230 done date:2401151231"
        " stat:DELIVRD err:000 text:Hi",
        receipted_message_id=None,
        message_state=None,
        network_error_code=None,
        source=NUMBER,
        destination=HANDSET,
    )
    at = datetime(2024, 1, 15, 12, 31, tzinfo=UTC)
    await PrintSink(stream).accept([InboundReceipt("carrier-a", receipt, at)])
    (line,) = stream.getvalue().splitlines()
    assert json.loads(line) == {
        "kind": "receipt",
        "message_id": "4F2A01BC",
        "state": "DELIVRD",
        "source": NUMBER,
        "destination": HANDSET,
        "error": "000",
        "received_at": "2024-01-15T12:31:00+00:00",
        "connector": "carrier-a",
    }
