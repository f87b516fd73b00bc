"""The connector against a scriptable fake SMSC on loopback (no mocks, STYLE.md habit 7).

What these tests prove:

- binding: the bind PDU is the configured kind and carries system_id, password,
  system_type, address_range, addr_ton/npi and interface_version; a refused bind is
  retried after the exponential backoff and the refusal shows in the connector's health;
  a bind that is never answered is given up after ``connect_timeout`` and its connection
  closed before the next try; TLS binds with verification off, and with a CA file;
  verification without the CA fails;
- acknowledgement (DESIGN.md, guarantee 1): a deliver_sm_resp leaves only after the sink
  returned; the acks of PDUs that arrived in one read leave in one write; a sink failure
  gives ESME_RX_T_APPN, SinkSaturated gives ESME_RTHROTTLED, more than ``max_unacked``
  waiting gives ESME_RTHROTTLED without calling the sink — and the session stays up;
- long messages: parts are held, unanswered, until the whole message is stored (any
  order); a part held past ``part_ack_hold`` is answered ESME_RX_T_APPN and its
  redelivery is held again, not acked early; a sink failure on a long message nacks every
  part and the redelivery makes the message again; reassembly timeout delivers what
  arrived (``complete=False``) and then acks the held parts;
- receipts become InboundReceipt, never InboundMessage;
- bad input (guarantee 4): a broken TLV stream or a standard TLV of the wrong length is
  answered with an error status, an unknown command with generic_nack, outbind and
  alert_notification are ignored — and the next PDU is processed on the same link;
- timers: enquire_link after the interval; an SMSC that stops answering enquire_link is
  left and rebound; a ghost session (enquire_link answered, no deliver_sm) is unbound and
  rebound, and traffic keeps it quiet; an unbind by the SMSC is answered, then rebound
  after the backoff; ``backoff_delay`` is exponential, jittered and capped;
- ``stop()`` lets in-flight sink calls finish and acks them before it unbinds;
- ``submit()``: answered submits return the response; an unanswered query_sm times out
  without taking the link down.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from fake_smsc import FakeSmsc, with_sequence
from gateway_support import (
    NUMBER,
    RecordingSink,
    make_config,
    mo,
    running,
    udh_parts,
    wait_until,
)

from smslocker.gateway import (
    BindType,
    Connector,
    ConnectorState,
    InboundMessage,
    InboundReceipt,
    SinkSaturated,
)
from smslocker.gateway.connector import backoff_delay
from smslocker.smpp.codec import encode
from smslocker.smpp.constants import CommandId as C
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import Tag
from smslocker.smpp.pdu import (
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    QuerySm,
    SubmitSm,
    Tlv,
    UnknownPdu,
)

pytestmark = pytest.mark.timeout(10)


# --------------------------------------------------------------------------- binding


@pytest.mark.parametrize(
    ("bind", "pdu_class", "interface_version"),
    [
        (BindType.RECEIVER, BindReceiver, 0x34),
        (BindType.TRANSCEIVER, BindTransceiver, 0x34),
        (BindType.TRANSMITTER, BindTransmitter, 0x33),
    ],
)
async def test_bind_pdu_carries_the_configured_parameters(
    smsc: FakeSmsc, bind: BindType, pdu_class: type, interface_version: int
) -> None:
    config = make_config(
        smsc.port,
        bind=bind,
        system_id="carrier-x",
        password="pw123",
        system_type="VMA",
        address_range="^4477",
        addr_ton=1,
        addr_npi=1,
        interface_version=interface_version,
    )
    connector = Connector(config, RecordingSink())
    async with running(connector):
        await connector.wait_bound(2)
        assert connector.state is ConnectorState.BOUND
        assert connector.stats.binds == 1
    (sent,) = smsc.binds
    assert type(sent) is pdu_class
    assert (
        sent.system_id,
        sent.password,
        sent.system_type,
        sent.address_range,
        sent.addr_ton,
        sent.addr_npi,
        sent.interface_version,
    ) == ("carrier-x", "pw123", "VMA", "^4477", 1, 1, interface_version)


async def test_refused_bind_is_retried_after_backoff() -> None:
    errors_seen_at_retry: list[str | None] = []
    connector: Connector | None = None

    def refuse_twice(number: int, _bind: object) -> int:
        if number > 0:
            assert connector is not None
            errors_seen_at_retry.append(connector.stats.last_error)
        return S.ESME_RINVPASWD if number < 2 else 0

    async with FakeSmsc(bind_policy=refuse_twice) as smsc:
        config = make_config(smsc.port, reconnect_initial=0.1, reconnect_max=1.0)
        connector = Connector(config, RecordingSink(), rng=random.Random(3))
        async with running(connector):
            await connector.wait_bound(3)
            expected = random.Random(3)
            delays = [backoff_delay(attempt, 0.1, 1.0, expected) for attempt in range(2)]
            first, second, third = smsc.connections
            for refused, retry, delay in ((first, second, delays[0]), (second, third, delays[1])):
                # The connector closed the refused connection, then waited out the backoff.
                assert refused.closed_at is not None
                gap = retry.opened_at - refused.closed_at
                assert delay - 0.02 <= gap <= delay + 0.2, (gap, delay)
            assert connector.stats.binds == 1
            assert connector.stats.reconnects == 2
    assert len(smsc.binds) == 3
    # The operator sees why: the refusal, not a bare "connection closed".
    assert len(errors_seen_at_retry) == 2
    for error in errors_seen_at_retry:
        assert "ESME_RINVPASWD" in (error or ""), errors_seen_at_retry


async def test_bind_never_answered_is_given_up_and_its_connection_closed() -> None:
    async with FakeSmsc(bind_policy=lambda number, _bind: None if number == 0 else 0) as smsc:
        # The SMSC's silence must be noticed by connect_timeout, not by the (longer)
        # response timeout, and that connection must not be left open behind us.
        config = make_config(smsc.port, connect_timeout=0.3, response_timeout=5.0)
        connector = Connector(config, RecordingSink())
        async with running(connector):
            await connector.wait_bound(3)
            first, second = smsc.connections[:2]
            assert first.closed_at is not None, "the unanswered connection was left open"
            assert first.closed_at <= second.opened_at
            assert first.closed_at - first.opened_at < 1.0


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (``openssl``: no
    ``cryptography`` in the venv)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=smsc.test",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def _server_context(tls_files: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    return context


@pytest.mark.parametrize("verify", ["off", "ca-file"])
async def test_tls_bind_and_delivery(tls_files: tuple[Path, Path], verify: str) -> None:
    options = {"tls_verify": False} if verify == "off" else {"tls_ca_file": str(tls_files[0])}
    async with FakeSmsc(ssl_context=_server_context(tls_files)) as smsc:
        sink = RecordingSink()
        connector = Connector(make_config(smsc.port, tls=True, **options), sink)
        async with running(connector):
            await connector.wait_bound(3)
            sent = smsc.deliver(mo("over TLS"))
            await wait_until(lambda: smsc.answers_to(sent, 0))
    assert [answer.status for answer in smsc.answers_to(sent, 0)] == [0]
    assert [message.text for message in sink.messages] == ["over TLS"]


async def test_tls_bind_fails_verification_without_the_ca(tls_files: tuple[Path, Path]) -> None:
    async with FakeSmsc(ssl_context=_server_context(tls_files)) as smsc:
        connector = Connector(make_config(smsc.port, tls=True), RecordingSink())
        async with running(connector):
            await wait_until(lambda: connector.stats.reconnects >= 1)
            assert smsc.binds == []
            assert "CERTIFICATE_VERIFY_FAILED" in (connector.stats.last_error or "")


# --------------------------------------------------------------------------- acks


async def test_ack_only_after_the_sink_returned(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(mo("Your code is 123456"))
        await wait_until(lambda: sink.entered == 1)
        await smsc.ping()
        assert smsc.answers_to(sent, 0) == [], "acked before the sink returned"
        sink.gate.set()
        await wait_until(lambda: smsc.answers_to(sent, 0))
    (ack,) = smsc.answers_to(sent, 0)
    assert (ack.command_id, ack.status) == (C.DELIVER_SM_RESP, 0)
    assert ack.at >= sink.last_return
    assert [message.text for message in sink.messages] == ["Your code is 123456"]
    assert connector.stats.acked == 1


async def test_acks_of_one_read_leave_in_one_write(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(*(mo(f"message {n}") for n in range(10)))
        await wait_until(lambda: sink.entered == 1)
        sink.gate.set()
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 10)
    # One read gave one batch, and one batch one write: the ten acks came in one chunk.
    assert [len(call.events) for call in sink.calls] == [10]
    acks = smsc.answers_to(sent, 0)
    assert len({ack.chunk for ack in acks}) == 1
    assert [ack.sequence_number for ack in acks] == [pdu.sequence_number for pdu in sent]
    assert {ack.status for ack in acks} == {0}


async def test_a_read_mixing_messages_receipts_and_parts_is_taken_in_order(
    smsc: FakeSmsc,
) -> None:
    # The ordinary messages a read starts with are decoded in one go (the hot path); what
    # follows the first other PDU goes one by one. Both halves end in the same batch.
    receipt = mo("id:1 stat:DELIVRD err:000", esm_class=0x04)
    first, second = udh_parts(["long ", "message"], 5)
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(mo("one"), mo("two"), receipt, mo("three"), first, mo("four"))
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 5)
        # One read, one batch, in the order of the PDUs (the fake SMSC wrote them at once).
        [batch] = sink.calls
        assert [getattr(event, "text", "receipt") for event in batch.events] == [
            "one",
            "two",
            "receipt",
            "three",
            "four",
        ]
        assert [r.receipt.message_id for r in sink.receipts] == ["1"]
        # The first part waits for its sibling; then the message, and both acks.
        assert first.sequence_number not in {a.sequence_number for a in smsc.answers_to(sent, 0)}
        last = smsc.deliver(second)
        await wait_until(lambda: len(smsc.answers_to([*sent, *last], 0)) == 7)
    assert [message.text for message in sink.messages][-1] == "long message"
    assert (connector.stats.messages, connector.stats.receipts) == (5, 1)


async def test_sink_failure_answers_rx_t_appn_and_the_session_stays_up(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    sink.failures = [RuntimeError("database is down")]
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        failed = smsc.deliver(mo("first"), mo("second"))
        await wait_until(lambda: len(smsc.answers_to(failed, 0)) == 2)
        later = smsc.deliver(mo("third"))
        await wait_until(lambda: smsc.answers_to(later, 0))
        assert connector.stats.sink_errors == 1
    assert [ack.status for ack in smsc.answers_to(failed, 0)] == [S.ESME_RX_T_APPN] * 2
    assert [ack.status for ack in smsc.answers_to(later, 0)] == [0]
    assert len(smsc.connections) == 1
    assert [message.text for message in sink.messages] == ["third"]


async def test_sink_saturated_answers_throttled(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    sink.failures = [SinkSaturated()]
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(mo("busy"))
        await wait_until(lambda: smsc.answers_to(sent, 0))
        again = smsc.deliver(mo("busy"))
        await wait_until(lambda: smsc.answers_to(again, 0))
    assert [ack.status for ack in smsc.answers_to(sent, 0)] == [S.ESME_RTHROTTLED]
    assert [ack.status for ack in smsc.answers_to(again, 0)] == [0]
    assert connector.stats.sink_errors == 0


async def test_more_than_max_unacked_waiting_is_throttled_without_the_sink(
    smsc: FakeSmsc,
) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    connector = Connector(make_config(smsc.port, max_unacked=3), sink)
    async with running(connector):
        await connector.wait_bound(2)
        waiting = smsc.deliver(mo("a"), mo("b"), mo("c"))
        await wait_until(lambda: sink.entered == 1)
        extra = smsc.deliver(mo("d"), mo("e"))
        await wait_until(lambda: len(smsc.answers_to(extra, 0)) == 2)
        assert sink.entered == 1
        assert smsc.answers_to(waiting, 0) == []
        sink.gate.set()
        await wait_until(lambda: len(smsc.answers_to(waiting, 0)) == 3)
    assert [ack.status for ack in smsc.answers_to(extra, 0)] == [S.ESME_RTHROTTLED] * 2
    assert [ack.status for ack in smsc.answers_to(waiting, 0)] == [0] * 3
    assert [message.text for message in sink.messages] == ["a", "b", "c"]
    assert connector.stats.throttled == 2


# --------------------------------------------------------------------------- long messages


async def test_long_message_parts_are_held_until_the_message_is_stored(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    connector = Connector(make_config(smsc.port), sink)
    first, second, third = udh_parts(["Your code is ", "12345", "6, valid 5 min"], 0x2A)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(third)  # the last part first
        await smsc.ping()
        sent += smsc.deliver(first)
        await smsc.ping()
        assert sink.entered == 0
        assert smsc.answers_to(sent, 0) == [], "a part was acked before its message was whole"
        sent += smsc.deliver(second)
        await wait_until(lambda: sink.entered == 1)
        await smsc.ping()
        assert smsc.answers_to(sent, 0) == [], "a part was acked before the sink returned"
        sink.gate.set()
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 3)
    acks = smsc.answers_to(sent, 0)
    assert {ack.status for ack in acks} == {0}
    assert min(ack.at for ack in acks) >= sink.last_return
    (message,) = sink.messages
    assert (message.text, message.parts, message.complete) == (
        "Your code is 123456, valid 5 min",
        3,
        True,
    )


async def test_part_held_too_long_is_nacked_and_its_redelivery_still_completes(
    smsc: FakeSmsc,
) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port, part_ack_hold=0.3), sink)
    first, second = udh_parts(["first half, ", "second half"], 7)
    async with running(connector):
        await connector.wait_bound(2)
        held = smsc.deliver(first)
        sent_at = smsc.sent[-1].at
        await wait_until(lambda: smsc.answers_to(held, 0), timeout=2)
        (nack,) = smsc.answers_to(held, 0)
        assert nack.status == S.ESME_RX_T_APPN
        assert nack.at - sent_at >= 0.3
        # The SMSC redelivers the part: it is held again, not taken for a stored duplicate.
        sink.gate.clear()
        again = smsc.deliver(first)
        await smsc.ping()
        assert smsc.answers_to(again, 0) == [], "the redelivered part was acked unstored"
        rest = smsc.deliver(second)
        await wait_until(lambda: sink.entered == 1)
        sink.gate.set()
        await wait_until(lambda: len(smsc.answers_to(again + rest, 0)) == 2)
    acks = smsc.answers_to(again + rest, 0)
    assert {ack.status for ack in acks} == {0}
    assert min(ack.at for ack in acks) >= sink.last_return
    assert [message.text for message in sink.messages] == ["first half, second half"]


async def test_sink_failure_on_a_long_message_nacks_all_parts_and_redelivery_remakes_it(
    smsc: FakeSmsc,
) -> None:
    sink = RecordingSink()
    sink.failures = [RuntimeError("commit failed")]
    connector = Connector(make_config(smsc.port), sink)
    parts = udh_parts(["long message ", "in two parts"], 9)
    async with running(connector):
        await connector.wait_bound(2)
        failed = smsc.deliver(parts[0]) + smsc.deliver(parts[1])
        await wait_until(lambda: len(smsc.answers_to(failed, 0)) == 2)
        redelivered = smsc.deliver(parts[0]) + smsc.deliver(parts[1])
        await wait_until(lambda: len(smsc.answers_to(redelivered, 0)) == 2)
    assert [ack.status for ack in smsc.answers_to(failed, 0)] == [S.ESME_RX_T_APPN] * 2
    assert [ack.status for ack in smsc.answers_to(redelivered, 0)] == [0, 0]
    assert [call.failed for call in sink.calls] == [True, False]
    assert [message.text for message in sink.messages] == ["long message in two parts"]


async def test_reassembly_timeout_delivers_what_arrived_then_acks_the_held_parts(
    smsc: FakeSmsc,
) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    config = make_config(smsc.port, reassembly_timeout=0.4, part_ack_hold=5.0)
    connector = Connector(config, sink)
    parts = udh_parts(["one ", "two ", "three"], 11)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(parts[0]) + smsc.deliver(parts[2])
        await wait_until(lambda: sink.entered == 1, timeout=2)
        await smsc.ping()
        assert smsc.answers_to(sent, 0) == []
        sink.gate.set()
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 2)
    assert {ack.status for ack in smsc.answers_to(sent, 0)} == {0}
    assert min(ack.at for ack in smsc.answers_to(sent, 0)) >= sink.last_return
    (message,) = sink.messages
    assert (message.text, message.parts, message.complete, message.missing) == (
        "one three",
        3,
        False,
        (2,),
    )


# --------------------------------------------------------------------------- receipts


async def test_receipts_become_inbound_receipts_never_messages(smsc: FakeSmsc) -> None:
    text = (
        "id:4F2A01BC sub:001 dlvrd:001 submit date:2401151230 done date:2401151231"
        " stat:DELIVRD err:000 text:Hello there"
    )
    by_esm_class = mo("", esm_class=0x04, short_message=text.encode("ascii"))
    by_tlv = mo(
        "",
        source=NUMBER,
        destination="447700900123",
        tlvs=(Tlv(Tag.RECEIPTED_MESSAGE_ID, b"ABC123\x00"), Tlv(Tag.MESSAGE_STATE, b"\x05")),
    )
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(by_esm_class, by_tlv)
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 2)
    assert [ack.status for ack in smsc.answers_to(sent, 0)] == [0, 0]
    assert sink.messages == []
    assert all(isinstance(event, InboundReceipt) for event in sink.stored)
    assert [(r.receipt.message_id, r.receipt.state) for r in sink.receipts] == [
        ("4F2A01BC", "DELIVRD"),
        ("ABC123", "UNDELIV"),
    ]
    assert (connector.stats.receipts, connector.stats.messages) == (2, 0)


# --------------------------------------------------------------------------- bad input


async def test_broken_tlv_stream_is_answered_with_an_error_and_the_session_stays_up(
    smsc: FakeSmsc,
) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port), sink)
    broken = bytearray(encode(with_sequence(mo("x", tlvs=(Tlv(0x1400, b"abc"),)), 0x70000001)))
    broken[-5:-3] = (9).to_bytes(2, "big")  # the TLV claims 9 octets, 3 follow
    async with running(connector):
        await connector.wait_bound(2)
        smsc.send_raw(bytes(broken))
        good = smsc.deliver(mo("after the broken one"))
        await wait_until(lambda: smsc.answers_to(good, 0))
    (answer,) = [r for r in smsc.received if r.sequence_number == 0x70000001]
    assert (answer.command_id, answer.status) == (C.DELIVER_SM_RESP, S.ESME_RINVPARLEN)
    assert [ack.status for ack in smsc.answers_to(good, 0)] == [0]
    assert [message.text for message in sink.messages] == ["after the broken one"]
    assert len(smsc.connections) == 1


@pytest.mark.parametrize(
    "bad_tlv",
    [
        Tlv(Tag.SAR_MSG_REF_NUM, b"\x00\x01\x02"),  # 2 octets by the spec
        Tlv(Tag.MESSAGE_STATE, b"\x00\x02"),  # 1 octet by the spec
    ],
    ids=["sar_msg_ref_num", "message_state"],
)
async def test_standard_tlv_of_the_wrong_length_is_answered_rinvparlen(
    smsc: FakeSmsc, bad_tlv: Tlv
) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        bad = smsc.deliver(mo("bad", tlvs=(bad_tlv,)))
        good = smsc.deliver(mo("good"))
        await wait_until(lambda: smsc.answers_to(good, 0))
    assert [ack.status for ack in smsc.answers_to(bad, 0)] == [S.ESME_RINVPARLEN]
    assert [ack.status for ack in smsc.answers_to(good, 0)] == [0]
    assert [message.text for message in sink.messages] == ["good"]
    assert connector.stats.rejected == 1


async def test_unknown_command_gets_generic_nack_and_the_link_stays_up(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        smsc.send_raw(encode(UnknownPdu(sequence_number=0x70000002, unknown_command_id=0x00000999)))
        good = smsc.deliver(mo("still here"))
        await wait_until(lambda: smsc.answers_to(good, 0))
    (nack,) = [r for r in smsc.received if r.sequence_number == 0x70000002]
    assert (nack.command_id, nack.status) == (C.GENERIC_NACK, S.ESME_RINVCMDID)
    assert [ack.status for ack in smsc.answers_to(good, 0)] == [0]
    assert len(smsc.connections) == 1


async def test_outbind_and_alert_notification_are_ignored() -> None:
    # An SMSC that sends an outbind on the connection we opened, before its bind_resp,
    # and later an alert_notification: neither has an answer, neither may break the link.
    async with FakeSmsc(outbind_before_bind_resp=True) as smsc:
        sink = RecordingSink()
        connector = Connector(make_config(smsc.port), sink)
        async with running(connector):
            await connector.wait_bound(2)
            smsc.deliver(AlertNotification(source_addr="447700900123", esme_addr=NUMBER))
            good = smsc.deliver(mo("after the alert"))
            await wait_until(lambda: smsc.answers_to(good, 0))
            assert len(smsc.connections) == 1
            assert connector.state is ConnectorState.BOUND
    assert [message.text for message in sink.messages] == ["after the alert"]


# --------------------------------------------------------------------------- timers


async def test_enquire_link_is_sent_after_the_interval(smsc: FakeSmsc) -> None:
    connector = Connector(make_config(smsc.port, enquire_link_interval=0.2), RecordingSink())
    async with running(connector):
        await connector.wait_bound(2)
        bound_at = smsc.connections[0].opened_at
        await wait_until(lambda: len(smsc.of_type(C.ENQUIRE_LINK)) >= 2, timeout=2)
        first, second = smsc.of_type(C.ENQUIRE_LINK)[:2]
        assert first.at - bound_at >= 0.2
        assert second.at - first.at >= 0.2
        # Answered, so the link is healthy: still the first connection.
        assert len(smsc.connections) == 1
        assert connector.state is ConnectorState.BOUND


async def test_smsc_that_stops_answering_enquire_link_is_left_and_rebound() -> None:
    async with FakeSmsc(drop_answers={C.ENQUIRE_LINK_RESP}) as smsc:
        connector = Connector(make_config(smsc.port), RecordingSink())
        async with running(connector):
            await wait_until(lambda: smsc.bound_count >= 2, timeout=3)
            first = smsc.connections[0]
            (enquire, *_) = smsc.of_type(C.ENQUIRE_LINK, connection=0)
            assert first.closed_at is not None
            # Left after the response timeout (0.3 s; timers tick every 0.25 s).
            assert 0.3 <= first.closed_at - enquire.at < 1.0
            assert "EnquireLink" in (connector.stats.last_error or "")


async def test_ghost_session_is_unbound_and_rebound(smsc: FakeSmsc) -> None:
    connector = Connector(make_config(smsc.port, ghost_timeout=0.5), RecordingSink())
    async with running(connector):
        await wait_until(lambda: smsc.bound_count >= 2, timeout=3)
        (unbind,) = smsc.of_type(C.UNBIND, connection=0)
        enquire_links = smsc.of_type(C.ENQUIRE_LINK, connection=0)
        assert enquire_links
        assert enquire_links[0].at < unbind.at  # the link was alive
        assert unbind.at - smsc.connections[0].opened_at >= 0.5
        assert type(smsc.binds[1]) is BindReceiver
        assert "no deliver_sm" in (connector.stats.last_error or "")


async def test_traffic_keeps_the_ghost_check_quiet(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port, ghost_timeout=0.5), sink)
    async with running(connector):
        await connector.wait_bound(2)
        for n in range(10):
            smsc.deliver(mo(f"tick {n}"))
            await asyncio.sleep(0.1)
        assert smsc.of_type(C.UNBIND) == []
        assert len(smsc.connections) == 1
    assert len(sink.messages) == 10


async def test_unbind_by_the_smsc_is_answered_then_rebound_after_backoff(smsc: FakeSmsc) -> None:
    config = make_config(smsc.port, reconnect_initial=0.2, reconnect_max=1.0)
    connector = Connector(config, RecordingSink())
    async with running(connector):
        await connector.wait_bound(2)
        unbind = smsc.unbind()
        await wait_until(lambda: smsc.bound_count >= 2, timeout=3)
        answers = smsc.answers_to([unbind], 0)
        assert [(a.command_id, a.status) for a in answers] == [(C.UNBIND_RESP, 0)]
        first, second = smsc.connections[:2]
        assert first.closed_at is not None
        assert second.opened_at - first.closed_at >= 0.1 - 0.02  # at least half the delay
        assert connector.stats.reconnects == 1


async def test_last_error_names_this_rounds_reason(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    sink.failures = [RuntimeError("database is down")]
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(mo("fails once"))
        await wait_until(lambda: smsc.answers_to(sent, 0))
        assert "database is down" in (connector.stats.last_error or "")
        for hang_ups in (1, 2):
            smsc.hang_up()
            await wait_until(lambda hang_ups=hang_ups: smsc.bound_count == hang_ups + 1)
            # The SMSC hung up: not the stale sink error, and not nested round after round.
            assert connector.stats.last_error == "ConnectionError: the SMSC closed the connection"


def test_backoff_delay_is_exponential_jittered_and_capped() -> None:
    rng = random.Random(42)
    delays = [backoff_delay(attempt, 0.5, 20.0, rng) for attempt in range(12)]
    for attempt, delay in enumerate(delays):
        ceiling = min(20.0, 0.5 * 2**attempt)
        # "Equal jitter": between half the exponential delay and all of it.
        assert ceiling / 2 <= delay <= ceiling, (attempt, delay)
    assert max(delays) <= 20.0
    assert delays[8:] != [delays[8]] * 4  # jittered even when capped
    assert backoff_delay(10_000, 0.5, 20.0, rng) <= 20.0  # huge attempts do not overflow
    # Seeded: the same sequence again; another seed, another sequence.
    again = random.Random(42)
    assert delays == [backoff_delay(attempt, 0.5, 20.0, again) for attempt in range(12)]
    other = random.Random(43)
    assert delays != [backoff_delay(attempt, 0.5, 20.0, other) for attempt in range(12)]


# --------------------------------------------------------------------------- stop


async def test_stop_acks_in_flight_sink_calls_before_it_unbinds(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    sink.gate.clear()
    connector = Connector(make_config(smsc.port), sink)
    task = connector.start()
    await connector.wait_bound(2)
    sent = smsc.deliver(mo("in flight 1"), mo("in flight 2"))
    await wait_until(lambda: sink.entered == 1)
    stopping = asyncio.create_task(connector.stop(timeout=2))
    await smsc.ping()
    assert smsc.of_type(C.UNBIND) == [], "unbound while a sink call was in flight"
    sink.gate.set()
    await asyncio.wait_for(stopping, 3)
    acks = smsc.answers_to(sent, 0)
    (unbind,) = smsc.of_type(C.UNBIND)
    assert [ack.status for ack in acks] == [0, 0]
    assert max(ack.index for ack in acks) < unbind.index
    assert task.done()
    assert task.exception() is None
    assert connector.state is ConnectorState.STOPPED
    assert len(smsc.connections) == 1


async def test_stop_while_reconnecting_returns_at_once() -> None:
    async with FakeSmsc() as smsc:
        port = smsc.port
    connector = Connector(
        make_config(port, reconnect_initial=5.0, reconnect_max=5.0), RecordingSink()
    )
    task = connector.start()
    await wait_until(lambda: connector.state is ConnectorState.RECONNECTING)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await connector.stop(timeout=2)
    assert loop.time() - started < 0.5
    assert task.done()
    assert connector.state is ConnectorState.STOPPED


# --------------------------------------------------------------------------- submit


async def test_submit_returns_the_smsc_answer(smsc: FakeSmsc) -> None:
    connector = Connector(make_config(smsc.port, bind=BindType.TRANSCEIVER), RecordingSink())
    async with running(connector):
        response = await asyncio.wait_for(
            connector.submit(
                SubmitSm(source_addr=NUMBER, destination_addr="447700900123", short_message=b"hi")
            ),
            3,
        )
    assert response.ok
    assert response.pdu.message_id == "m1"  # type: ignore[attr-defined]
    (submit,) = smsc.submits
    assert isinstance(submit, SubmitSm)
    assert submit.short_message == b"hi"


async def test_unanswered_query_times_out_and_the_link_stays_up() -> None:
    async with FakeSmsc(answer_requests=False) as smsc:
        connector = Connector(make_config(smsc.port, bind=BindType.TRANSCEIVER), RecordingSink())
        async with running(connector):
            await connector.wait_bound(2)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(connector.submit(QuerySm(message_id="m1")), 3)
            # enquire_link is still answered: one slow answer is no reason to leave the link.
            await asyncio.sleep(0.3)
            assert len(smsc.connections) == 1
            assert connector.state is ConnectorState.BOUND


async def test_message_is_an_inbound_message(smsc: FakeSmsc) -> None:
    sink = RecordingSink()
    connector = Connector(make_config(smsc.port), sink)
    async with running(connector):
        await connector.wait_bound(2)
        sent = smsc.deliver(mo("Ünïcødé ✓"))
        await wait_until(lambda: smsc.answers_to(sent, 0))
    (message,) = sink.messages
    assert isinstance(message, InboundMessage)
    assert (message.text, message.data_coding, message.source, message.destination) == (
        "Ünïcødé ✓",
        0x08,
        "447700900123",
        NUMBER,
    )
    assert message.connector == "test-carrier"
