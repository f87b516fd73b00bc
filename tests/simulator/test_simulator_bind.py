"""Binding: every bind type, credentials, several ESMEs at once, address_range, TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from esme_client import Connect, EsmeClient, MakeSimulator

from smslocker.simulator import Simulator
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import Tag
from smslocker.smpp.pdu import BindReceiver, EnquireLink, GenericNack
from smslocker.smpp.session_events import UnexpectedResponse
from smslocker.smpp.states import State
from smslocker.smpp.tlv import get_int


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        ("receiver", State.BOUND_RX),
        ("transmitter", State.BOUND_TX),
        ("transceiver", State.BOUND_TRX),
    ],
)
async def test_every_bind_type_binds(
    simulator: Simulator, connect: Connect, kind: str, state: State
) -> None:
    client = await connect(None)
    response = await client.bind(kind, "esme", "secret")
    assert response.ok
    assert response.pdu.system_id == "smslocker-sim"  # type: ignore[attr-defined]
    assert get_int(response.pdu.tlvs, Tag.SC_INTERFACE_VERSION) == 0x34
    assert client.session.state is state
    [session] = simulator.sessions()
    assert (session.system_id, session.bind) == ("esme", kind)


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [("esme", "wrong", S.ESME_RINVPASWD), ("nobody", "secret", S.ESME_RINVSYSID)],
)
async def test_bad_credentials_are_refused_and_the_connection_closed(
    simulator: Simulator, connect: Connect, system_id: str, password: str, status: int
) -> None:
    client = await connect(None)
    response = await client.bind("transceiver", system_id, password)
    assert response.pdu.command_status == status
    await client.wait_closed()
    assert simulator.sessions() == []
    assert simulator.stats().bind_failures == 1


async def test_without_accounts_anyone_may_bind(make_simulator: MakeSimulator) -> None:
    simulator = await make_simulator(accounts=())
    client = await EsmeClient.connect(simulator.port)
    try:
        assert (await client.bind("receiver", "whoever", "whatever")).ok
    finally:
        client.abort()


async def test_a_second_bind_on_a_bound_session_is_refused(connect: Connect) -> None:
    client = await connect("transceiver")
    answer = await client.request_raw(BindReceiver(sequence_number=99, system_id="esme"))
    assert answer.command_status == S.ESME_RALYBND


async def test_enquire_link_is_answered(connect: Connect) -> None:
    client = await connect("receiver")
    response = await client.request(EnquireLink())
    assert response.ok


async def test_several_esmes_share_the_traffic_round_robin(
    simulator: Simulator, connect: Connect
) -> None:
    clients = [await connect("receiver"), await connect("transceiver"), await connect("receiver")]
    # A transmitter never receives deliver_sm.
    transmitter = await connect("transmitter")
    for number in range(6):
        simulator.inject_mo("447700900001", "447700900002", f"message {number}")
    for client in clients:
        await client.deliveries(2)
    assert transmitter.received == []
    assert len(simulator.sessions()) == 4


async def test_address_range_routes_by_destination(simulator: Simulator, connect: Connect) -> None:
    uk = await connect("receiver", address_range=r"44\d+")
    france = await connect("receiver", address_range=r"33\d+")
    simulator.inject_mo("100", "447700900002", "to the UK")
    simulator.inject_mo("100", "33612345678", "to France")
    assert (await uk.next_deliver()).destination_addr == "447700900002"
    assert (await france.next_deliver()).destination_addr == "33612345678"


async def test_a_message_nobody_serves_waits_for_a_bind(
    simulator: Simulator, connect: Connect
) -> None:
    await connect("receiver", address_range=r"33\d+")
    message_id = simulator.inject_mo("100", "447700900002", "waits")
    # Let the dispatcher run: nobody takes the message, it stays queued.
    await asyncio.sleep(0)
    status = simulator.message(message_id)
    assert status is not None
    assert status.state == "queued"
    late = await connect("receiver")
    assert (await late.next_deliver()).destination_addr == "447700900002"


async def test_session_init_timeout_closes_an_idle_connection(
    make_simulator: MakeSimulator,
) -> None:
    simulator = await make_simulator(session_init_timeout=0.1)
    client = await EsmeClient.connect(simulator.port)
    await client.wait_closed(timeout=2.0)


async def test_stop_unbinds_every_session(make_simulator: MakeSimulator) -> None:
    simulator = await make_simulator()
    clients = [await EsmeClient.connect(simulator.port) for _ in range(2)]
    for client in clients:
        assert (await client.bind("transceiver")).ok
    await simulator.stop()
    for client in clients:
        assert client.unbound.done()
        await client.wait_closed()


async def test_broken_framing_gets_a_generic_nack_and_the_door(connect: Connect) -> None:
    client = await connect("transceiver")
    assert client.transport is not None
    client.transport.write(b"\x00\x00\x00\x05garbage")  # command_length 5 < 16
    await client.wait_closed()
    [nack] = [event.pdu for event in client.events if isinstance(event, UnexpectedResponse)]
    assert isinstance(nack, GenericNack)
    assert nack.command_status == S.ESME_RINVCMDLEN


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_tls(make_simulator: MakeSimulator, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    simulator = await make_simulator(ssl=server_context)
    client_context = ssl.create_default_context(cafile=str(cert))
    client = await EsmeClient.connect(simulator.port, ssl_context=client_context)
    try:
        assert (await client.bind("receiver")).ok
        simulator.inject_mo("100", "447700900002", "over TLS")
        assert (await client.next_deliver()).short_message == b"over TLS"
    finally:
        client.abort()
