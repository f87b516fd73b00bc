"""An ESME built on the npm ``smpp`` package (node/esme.js) bound to our simulator.

What node makes of our simulator's PDUs is the proof here: node decodes the text of every
deliver_sm with its own GSM 03.38 and UCS2 code, and the test also decodes the raw octets
with the small independent decoder of ``interop_helpers``. These tests prove that:

- a 3.4 bind_transceiver with the right credentials succeeds (and the answer says 3.4),
  with a wrong password or system_id it is refused, and a receiver may not submit;
- injected MO messages arrive with their exact text: GSM with extension characters, UCS2
  with emoji, and long messages cut every way the simulator can (8- and 16-bit UDH sent
  out of order, sar_* TLVs, message_payload), each segment within the size of one SMS,
  never split inside an escape or surrogate pair, and the segments adding up to the text;
- ``POST /mo`` does the same as ``inject_mo``, and so do ``smslocker simulate`` and
  ``smslocker send`` run as processes of their own;
- a deliver_sm node answers ESME_RX_T_APPN is delivered again, once;
- a submit_sm gets a message_id, comes back as an MO (loopback, also a long one with its
  UDH intact), and with registered_delivery=1 a receipt follows that names that id;
- enquire_link and unbind from node are answered, node answers the simulator's
  enquire_link, and stopping the simulator unbinds node gracefully.
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from interop_helpers import (
    SIMULATOR_PASSWORD,
    SIMULATOR_SYSTEM_ID,
    Event,
    PeerProcess,
    concat_reference,
    decode_user_data,
    run_node_script,
    run_peer,
    split_gsm,
    split_ucs2,
    split_udh,
    wait_until,
)

if TYPE_CHECKING:
    from smslocker.simulator import Simulator
    from smslocker.simulator.http import HttpApi

pytestmark = [pytest.mark.interop, pytest.mark.timeout(30)]

ESME_ROK = 0x00
ESME_RINVBNDSTS = 0x04
ESME_RINVPASWD = 0x0E
ESME_RINVSYSID = 0x0F

SHORT_CODE = "7001"

GSM_EXTENDED = "Price: 5€ [a] {b} ~c^ \\d |e| @£$¥ èéùìò ÄÖÑÜ§ äöñüà ΔΦΓΛΩΠΨΣΘΞ ok"
UCS2_EMOJI = "Привет 👋🏽 мир — 你好 🎉 ✓"
LONG_GSM = " ".join(
    f"Segment filler {n}: the €uro, [brackets], {{braces}}, ~tilde^ \\ |pipe|." for n in range(7)
)
LONG_UCS2 = "".join(f"Длинное сообщение {n} 😀🚀 " for n in range(8)).strip()


def esme_config(port: int, **options: Any) -> dict[str, Any]:
    return {
        "port": port,
        "system_id": SIMULATOR_SYSTEM_ID,
        "password": SIMULATOR_PASSWORD,
        **options,
    }


async def bound_esme(esme: PeerProcess) -> Event:
    resp = await esme.wait_event("bind_resp")
    assert resp["command_status"] == ESME_ROK, esme.describe()
    return resp


def deliveries_from(esme: PeerProcess, source: str) -> list[Event]:
    return [e for e in esme.find_event("deliver_sm") if e["source_addr"] == source]


def user_data_of(delivery: Event) -> bytes:
    if delivery["message_payload_hex"] is not None:
        return bytes.fromhex(delivery["message_payload_hex"])
    return bytes.fromhex(delivery["short_message_hex"])


def check_segment_size(user_data: bytes, header_length: int, data_coding: int) -> None:
    """One segment of a long message must fit one SMS: 140 octets over the air (§7.3)."""
    text_octets = len(user_data) - header_length
    if data_coding == 0:
        # Unpacked septets on SMPP; packed after the UDH (with fill bits) on the air.
        bits = header_length * 8 + text_octets * 7
        assert math.ceil(bits / 8) <= 140, f"{text_octets} septets after {header_length} octets"
    else:
        assert len(user_data) <= 140, f"{len(user_data)} octets"


def reassemble_udh(parts: list[Event]) -> tuple[str, str, int]:
    """Check the UDH of every part; return (text by our decoder, text by node, IEI)."""
    by_number: dict[int, Event] = {}
    references = set()
    ieis = set()
    for part in parts:
        assert part["esm_class"] & 0x40, part
        raw = user_data_of(part)
        elements, text_octets = split_udh(raw)
        reference, total, number = concat_reference(elements)
        references.add((reference, total))
        ieis.update(iei for iei in elements if iei in (0x00, 0x08))
        check_segment_size(raw, raw[0] + 1, part["data_coding"])
        assert number not in by_number, f"part {number} twice"
        by_number[number] = part | {"text_octets": text_octets}
    assert len(references) == 1, references
    ((_, total),) = references
    assert sorted(by_number) == list(range(1, total + 1))
    assert len(ieis) == 1, ieis
    ordered = [by_number[number] for number in sorted(by_number)]
    ours = "".join(decode_user_data(p["text_octets"], p["data_coding"]) for p in ordered)
    theirs = "".join(p["text"] for p in ordered)
    return ours, theirs, ieis.pop()


async def wait_parts(esme: PeerProcess, source: str, count: int) -> list[Event]:
    await esme.wait_for(
        lambda e: e.get("event") == "deliver_sm" and e["source_addr"] == source, count=count
    )
    return deliveries_from(esme, source)


async def test_bind_succeeds_with_the_right_credentials(
    node_interop_dir: Path, simulator: Simulator
) -> None:
    config = esme_config(simulator.port)
    async with run_node_script(node_interop_dir, "esme.js", config) as esme:
        resp = await bound_esme(esme)
        assert resp["command"] == "bind_transceiver_resp"
        assert resp["system_id"] == "smslocker-sim"
        # Both sides speak 3.4: the SMSC says so (SMPP.md §6.6).
        assert resp["sc_interface_version"] == 0x34
        await esme.send({"op": "unbind", "id": "bye"})
        unbound = await esme.wait_event("unbind_resp")
        assert unbound["command_status"] == ESME_ROK
        await esme.wait_event("close")
    assert simulator.stats().binds == 1


@pytest.mark.parametrize(
    ("system_id", "password", "status"),
    [
        (SIMULATOR_SYSTEM_ID, "wrong", ESME_RINVPASWD),
        ("nobody", SIMULATOR_PASSWORD, ESME_RINVSYSID),
    ],
    ids=["wrong-password", "wrong-system-id"],
)
async def test_bind_is_refused_with_wrong_credentials(
    node_interop_dir: Path, simulator: Simulator, system_id: str, password: str, status: int
) -> None:
    config = esme_config(simulator.port, system_id=system_id, password=password)
    async with run_node_script(node_interop_dir, "esme.js", config) as esme:
        resp = await esme.wait_event("bind_resp")
        assert resp["command_status"] == status
        # The answer first, then the SMSC closes (SMPP.md §11.2).
        await esme.wait_event("close")
    assert simulator.stats().bind_failures == 1
    assert simulator.sessions() == []


async def test_a_receiver_may_not_submit(node_interop_dir: Path, simulator: Simulator) -> None:
    config = esme_config(simulator.port, bind="bind_receiver")
    async with run_node_script(node_interop_dir, "esme.js", config) as esme:
        await bound_esme(esme)
        pdu = {"source_addr": "447700900999", "destination_addr": SHORT_CODE, "short_message": "x"}
        await esme.send({"op": "submit_sm", "id": "nope", "pdu": pdu})
        resp = await esme.wait_event("submit_sm_resp", id="nope")
        assert resp["command_status"] == ESME_RINVBNDSTS


async def test_injected_messages_arrive_with_their_exact_text(
    node_interop_dir: Path, simulator: Simulator
) -> None:
    async with run_node_script(node_interop_dir, "esme.js", esme_config(simulator.port)) as esme:
        await bound_esme(esme)
        simulator.inject_mo("447700900001", SHORT_CODE, GSM_EXTENDED)
        simulator.inject_mo("447700900002", SHORT_CODE, UCS2_EMOJI)
        simulator.inject_mo("447700900003", SHORT_CODE, "Latin-1: café", data_coding=3)
        (gsm,) = await wait_parts(esme, "447700900001", 1)
        (ucs2,) = await wait_parts(esme, "447700900002", 1)
        (latin1,) = await wait_parts(esme, "447700900003", 1)

    assert (gsm["data_coding"], gsm["esm_class"]) == (0, 0)
    assert gsm["text"] == GSM_EXTENDED
    assert decode_user_data(user_data_of(gsm), 0) == GSM_EXTENDED
    assert (gsm["source_addr_ton"], gsm["destination_addr"]) == (1, SHORT_CODE)
    assert ucs2["data_coding"] == 8
    assert ucs2["text"] == UCS2_EMOJI
    assert decode_user_data(user_data_of(ucs2), 8) == UCS2_EMOJI
    assert latin1["data_coding"] == 3
    assert latin1["text"] == "Latin-1: café"


@pytest.mark.parametrize(
    ("text", "data_coding", "split", "iei", "capacity"),
    [
        (LONG_GSM, 0, "udh8", 0x00, 153),
        (LONG_GSM, 0, "udh16", 0x08, 152),
        (LONG_UCS2, 8, "udh8", 0x00, 67),
        (LONG_UCS2, 8, "udh16", 0x08, 66),
    ],
    ids=["gsm-udh8", "gsm-udh16", "ucs2-udh8", "ucs2-udh16"],
)
async def test_a_long_message_arrives_in_udh_segments_out_of_order(
    node_interop_dir: Path,
    simulator: Simulator,
    text: str,
    data_coding: int,
    split: str,
    iei: int,
    capacity: int,
) -> None:
    source = "447700900010"
    expected_parts = len(
        split_gsm(text, capacity) if data_coding == 0 else split_ucs2(text, capacity)
    )
    assert expected_parts >= 3
    async with run_node_script(node_interop_dir, "esme.js", esme_config(simulator.port)) as esme:
        await bound_esme(esme)
        simulator.inject_mo(source, SHORT_CODE, text, split=split, shuffle=True)
        parts = await wait_parts(esme, source, expected_parts)

    assert {p["data_coding"] for p in parts} == {data_coding}
    ours, theirs, used_iei = reassemble_udh(parts)
    assert used_iei == iei
    assert ours == text
    assert theirs == text
    numbers = [concat_reference(split_udh(user_data_of(p))[0])[2] for p in parts]
    assert numbers != sorted(numbers), "shuffle=True sent the parts in order"


@pytest.mark.parametrize(
    ("text", "data_coding", "capacity"),
    # sar_msg_ref_num has 2 octets: the SMSC may put a 16-bit-reference UDH on the air, so
    # segments leave room for one (SMPP.md §8.2, §7.3).
    [(LONG_GSM, 0, 152), (LONG_UCS2, 8, 66)],
    ids=["gsm", "ucs2"],
)
async def test_a_long_message_arrives_in_sar_segments(
    node_interop_dir: Path, simulator: Simulator, text: str, data_coding: int, capacity: int
) -> None:
    source = "447700900011"
    pieces = split_gsm(text, capacity) if data_coding == 0 else split_ucs2(text, capacity)
    async with run_node_script(node_interop_dir, "esme.js", esme_config(simulator.port)) as esme:
        await bound_esme(esme)
        simulator.inject_mo(source, SHORT_CODE, text, split="sar")
        parts = await wait_parts(esme, source, len(pieces))

    by_number = {}
    for part in parts:
        tlvs = part["tlvs"]
        assert part["esm_class"] & 0x40 == 0, "sar segments carry no UDH"
        assert part["data_coding"] == data_coding
        assert tlvs["sar_total_segments"] == len(pieces)
        by_number[tlvs["sar_segment_seqnum"]] = part
        check_segment_size(bytes(7) + user_data_of(part), 7, data_coding)
    assert len({p["tlvs"]["sar_msg_ref_num"] for p in parts}) == 1
    assert sorted(by_number) == list(range(1, len(pieces) + 1))
    ordered = [by_number[n] for n in sorted(by_number)]
    assert "".join(decode_user_data(user_data_of(p), data_coding) for p in ordered) == text
    assert "".join(p["text"] for p in ordered) == text


@pytest.mark.parametrize(
    ("text", "data_coding"), [(LONG_GSM, 0), (LONG_UCS2, 8)], ids=["gsm", "ucs2"]
)
async def test_a_long_message_arrives_in_one_message_payload(
    node_interop_dir: Path, simulator: Simulator, text: str, data_coding: int
) -> None:
    source = "447700900012"
    async with run_node_script(node_interop_dir, "esme.js", esme_config(simulator.port)) as esme:
        await bound_esme(esme)
        simulator.inject_mo(source, SHORT_CODE, text, split="payload")
        (delivery,) = await wait_parts(esme, source, 1)

    assert delivery["data_coding"] == data_coding
    assert delivery["short_message_hex"] == "", "sm_length must be 0 with message_payload"
    assert delivery["message_payload_text"] == text
    assert decode_user_data(user_data_of(delivery), data_coding) == text


async def test_post_mo_delivers_like_inject_mo(
    node_interop_dir: Path, simulator: Simulator, simulator_http: HttpApi
) -> None:
    source = "447700900013"
    body = {
        "source": source,
        "destination": SHORT_CODE,
        "text": LONG_UCS2,
        "split": "udh8",
        "shuffle": True,
    }
    async with run_node_script(node_interop_dir, "esme.js", esme_config(simulator.port)) as esme:
        await bound_esme(esme)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{simulator_http.port}") as http:
            response = await http.post("/mo", json=body)
        assert response.status_code == 202, response.text
        accepted = response.json()
        parts = await wait_parts(esme, source, accepted["parts"])

    assert accepted["parts"] == len(split_ucs2(LONG_UCS2))
    ours, theirs, _iei = reassemble_udh(parts)
    assert ours == theirs == LONG_UCS2


async def test_a_submit_comes_back_as_an_mo_and_a_receipt(
    node_interop_dir: Path, simulator: Simulator
) -> None:
    handset = "447700900020"
    async with run_node_script(node_interop_dir, "esme.js", esme_config(simulator.port)) as esme:
        await bound_esme(esme)
        pdu = {
            "source_addr_ton": 1,
            "source_addr_npi": 1,
            "source_addr": handset,
            "destination_addr": SHORT_CODE,
            "data_coding": 0,
            "registered_delivery": 1,
            "short_message": GSM_EXTENDED,
        }
        await esme.send({"op": "submit_sm", "id": "gsm", "pdu": pdu})
        # node picks the coding itself when data_coding is absent: UCS2 for emoji.
        await esme.send(
            {
                "op": "submit_sm",
                "id": "emoji",
                "pdu": {
                    "source_addr": "447700900021",
                    "destination_addr": "7002",
                    "short_message": UCS2_EMOJI,
                },
            }
        )
        resp = await esme.wait_event("submit_sm_resp", id="gsm")
        emoji_resp = await esme.wait_event("submit_sm_resp", id="emoji")
        receipt = await esme.wait_for(
            lambda e: e.get("event") == "deliver_sm" and e["esm_class"] & 0x3C == 0x04
        )
        (mo,) = await wait_parts(esme, handset, 1)
        (emoji_mo,) = await wait_parts(esme, "447700900021", 1)
        await esme.send({"op": "enquire_link", "id": "ping"})
        ping = await esme.wait_event("enquire_link_resp", id="ping")

    assert resp["command_status"] == ESME_ROK
    message_id = resp["message_id"]
    assert message_id
    assert emoji_resp["command_status"] == ESME_ROK
    assert emoji_resp["message_id"] not in ("", None, message_id)

    assert (mo["destination_addr"], mo["esm_class"] & 0x3C) == (SHORT_CODE, 0)
    assert mo["text"] == GSM_EXTENDED
    assert (emoji_mo["data_coding"], emoji_mo["text"]) == (8, UCS2_EMOJI)

    # The receipt goes from the handset the message was sent to, back to its sender.
    assert (receipt["source_addr"], receipt["destination_addr"]) == (SHORT_CODE, handset)
    assert receipt["tlvs"]["receipted_message_id"] == message_id
    assert receipt["tlvs"]["message_state"] == 2
    assert f"id:{message_id} " in receipt["text"]
    assert "stat:DELIVRD" in receipt["text"]
    # Only the message that asked for a receipt got one.
    receipts = [e for e in esme.find_event("deliver_sm") if e["esm_class"] & 0x3C == 0x04]
    assert len(receipts) == 1

    assert ping["command_status"] == ESME_ROK


async def test_a_long_submit_comes_back_with_its_udh(
    node_interop_dir: Path, simulator: Simulator
) -> None:
    handset = "447700900030"
    pieces = split_gsm(LONG_GSM)
    async with run_node_script(node_interop_dir, "esme.js", esme_config(simulator.port)) as esme:
        await bound_esme(esme)
        for number, piece in enumerate(pieces, start=1):
            udh = bytes([0x05, 0x00, 0x03, 0x5A, len(pieces), number]).hex()
            pdu = {
                "source_addr": handset,
                "destination_addr": SHORT_CODE,
                "data_coding": 0,
                "short_message": {"udh": {"hex": udh}, "message": piece},
            }
            await esme.send({"op": "submit_sm", "id": f"part{number}", "pdu": pdu})
        for number in range(1, len(pieces) + 1):
            resp = await esme.wait_event("submit_sm_resp", id=f"part{number}")
            assert resp["command_status"] == ESME_ROK
        parts = await wait_parts(esme, handset, len(pieces))

    ours, theirs, iei = reassemble_udh(parts)
    assert iei == 0x00
    assert ours == theirs == LONG_GSM
    assert {concat_reference(split_udh(user_data_of(p))[0])[0] for p in parts} == {0x5A}


async def test_a_negative_ack_gets_the_message_redelivered(
    node_interop_dir: Path, simulator: Simulator
) -> None:
    source = "447700900050"
    config = esme_config(simulator.port, fail_first=1, fail_status=0x64)
    async with run_node_script(node_interop_dir, "esme.js", config) as esme:
        await bound_esme(esme)
        message_id = simulator.inject_mo(source, SHORT_CODE, GSM_EXTENDED)
        first, second = await wait_parts(esme, source, 2)

        def delivered() -> bool:
            status = simulator.message(message_id)
            return status is not None and status.state == "delivered"

        await wait_until(delivered, what="the message to be delivered")
    assert (first["answered"], second["answered"]) == (0x64, ESME_ROK)
    assert first["sequence"] != second["sequence"]
    assert first["text"] == second["text"] == GSM_EXTENDED
    status = simulator.message(message_id)
    assert status is not None
    assert status.attempts == 2
    assert len(deliveries_from(esme, source)) == 2


async def test_the_simulators_enquire_link_is_answered(
    node_interop_dir: Path,
    simulator_with: Callable[..., AbstractAsyncContextManager[Simulator]],
) -> None:
    async with simulator_with(enquire_link_interval=0.2) as simulator:
        config = esme_config(simulator.port)
        async with run_node_script(node_interop_dir, "esme.js", config) as esme:
            await bound_esme(esme)
            await esme.wait_event("enquire_link", count=3, timeout=5)
            assert len(simulator.sessions()) == 1
            # And the link still carries messages.
            simulator.inject_mo("447700900060", SHORT_CODE, "still here")
            (delivery,) = await wait_parts(esme, "447700900060", 1)
        assert delivery["text"] == "still here"
        assert esme.find_event("close") == []


async def test_the_simulate_command_serves_node_and_send_injects(node_interop_dir: Path) -> None:
    """``smslocker simulate`` in its own process, ``smslocker send`` in another, node between."""
    simulate = [sys.executable, "-m", "smslocker", "simulate", "--smpp-port", "0"]
    simulate += ["--http-port", "0", "--system-id", SIMULATOR_SYSTEM_ID]
    simulate += ["--password", SIMULATOR_PASSWORD, "--redelivery-delay", "0.1"]
    async with run_peer(simulate, name="smslocker simulate", terminate=True) as cli:
        ready = await cli.wait_event("ready", timeout=15)
        config = esme_config(ready["smpp_port"])
        async with run_node_script(node_interop_dir, "esme.js", config) as esme:
            await bound_esme(esme)
            send = [sys.executable, "-m", "smslocker", "send"]
            send += ["--simulator", f"http://127.0.0.1:{ready['http_port']}"]
            send += ["--source", "447700900070", "--destination", SHORT_CODE]
            send += ["--text", LONG_GSM, "--split", "udh16", "--shuffle"]
            async with run_peer(send, name="smslocker send") as sender:
                accepted = await sender.wait_for(lambda e: "parts" in e, timeout=15)
            parts = await wait_parts(esme, "447700900070", accepted["parts"])
    ours, theirs, iei = reassemble_udh(parts)
    assert iei == 0x08
    assert ours == theirs == LONG_GSM
    assert cli.process.returncode == 0, cli.describe()


async def test_stopping_the_simulator_unbinds_node_gracefully(
    node_interop_dir: Path,
    simulator_with: Callable[..., AbstractAsyncContextManager[Simulator]],
) -> None:
    async with simulator_with() as simulator:
        config = esme_config(simulator.port)
        async with run_node_script(node_interop_dir, "esme.js", config) as esme:
            await bound_esme(esme)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await simulator.stop(timeout=3.0)
            # node answered the unbind at once: stop() did not wait out its timeout to cut.
            assert loop.time() - started < 1.5
            await esme.wait_event("unbind")
            await esme.wait_event("close")
    assert esme.find_event("error") == []
