"""The session state machines, tested as an ESME and an SMSC wired together in memory.

No sockets and no real clock (STYLE habits 6 and 7): :class:`Link` moves the bytes each
session queues to the other one, and :class:`Clock` is advanced by hand.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import factory
import pytest
import strategies as sst
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp.codec import decode_body, encode
from smslocker.smpp.constants import MAX_SEQUENCE_NUMBER, RESPONSE_BIT, CommandId, Tag
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.errors import FramingError, LocalProtocolError
from smslocker.smpp.framing import PduBuffer
from smslocker.smpp.pdu import (
    CLASS_BY_COMMAND_ID,
    AlertNotification,
    BindReceiver,
    BindTransceiverResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    QuerySm,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    UnbindResp,
    response_to,
)
from smslocker.smpp.session import Session, SessionConfig, WindowFull
from smslocker.smpp.session_events import (
    BindFailed,
    Bound,
    ConnectionBroken,
    Event,
    InactivityTimeout,
    ProtocolViolation,
    Response,
    ResponseTimeout,
    SessionInitTimeout,
    Unbound,
    UnexpectedResponse,
)
from smslocker.smpp.states import BOUND_STATES, RECEIVE_TABLE, SEND_TABLE, Role, State

KIND_STATE = {
    "transmitter": State.BOUND_TX,
    "receiver": State.BOUND_RX,
    "transceiver": State.BOUND_TRX,
}
REQUEST_IDS = sorted(c for c in CommandId if not c & RESPONSE_BIT)


class Clock:
    """Monotonic seconds, moved by the test."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def split_pdus(data: bytes) -> list[Pdu]:
    """The PDUs in ``data`` (which must hold whole PDUs only)."""
    buffer = PduBuffer()
    pdus = [decode_body(*raw) for raw in buffer.feed(data)]
    assert len(buffer) == 0
    return pdus


def request(command_id: int, **overrides: Any) -> Pdu:
    """A valid request PDU of ``command_id``."""
    cls = CLASS_BY_COMMAND_ID[command_id]
    pdu = factory.submit_multi() if cls is SubmitMulti else cls()
    return dataclasses.replace(pdu, **overrides)


class Link:
    """An ESME session and an SMSC session connected back to back, with a wiretap."""

    def __init__(
        self,
        esme_config: SessionConfig | None = None,
        smsc_config: SessionConfig | None = None,
    ) -> None:
        self.clock = Clock()
        self.esme = Session(Role.ESME, esme_config, now=self.clock.now)
        self.smsc = Session(Role.SMSC, smsc_config, now=self.clock.now)
        self.sent_by_esme: list[Pdu] = []
        self.sent_by_smsc: list[Pdu] = []
        self._esme_tap = PduBuffer()
        self._smsc_tap = PduBuffer()

    @property
    def now(self) -> float:
        return self.clock.now

    def shuttle(self) -> tuple[list[Event], list[Event]]:
        """Deliver queued bytes both ways until both are quiet; the events each side saw."""
        esme_events: list[Event] = []
        smsc_events: list[Event] = []
        while True:
            to_smsc = self.esme.data_to_send()
            to_esme = self.smsc.data_to_send()
            if not to_smsc and not to_esme:
                return esme_events, smsc_events
            if to_smsc:
                self.sent_by_esme += [decode_body(*raw) for raw in self._esme_tap.feed(to_smsc)]
                smsc_events += self.smsc.receive_data(to_smsc, now=self.now)
            if to_esme:
                self.sent_by_smsc += [decode_body(*raw) for raw in self._smsc_tap.feed(to_esme)]
                esme_events += self.esme.receive_data(to_esme, now=self.now)

    def bind(self, kind: str = "transceiver", **bind_fields: Any) -> list[Event]:
        """Bind the ESME (the SMSC application accepts); the ESME's events."""
        self.esme.send(factory.bind(kind, **bind_fields), now=self.now)
        _, smsc_events = self.shuttle()
        [bind_request] = smsc_events
        assert isinstance(bind_request, Pdu)
        self.smsc.respond(bind_request, now=self.now, system_id="SMSC")
        esme_events, smsc_events = self.shuttle()
        assert smsc_events == []
        return esme_events


def bound_link(kind: str = "transceiver", **config: Any) -> Link:
    link = Link(SessionConfig(**config), SessionConfig(**config))
    link.bind(kind)
    assert link.esme.state is link.smsc.state is KIND_STATE[kind]
    return link


def inject(
    session: Session, *items: Pdu | bytes, now: float = 1000.0
) -> tuple[list[Event], list[Pdu]]:
    """Feed raw PDUs to ``session`` past the peer's own checks; its events and its answers.

    Whatever ``session`` had queued before is dropped first, so that only answers remain.
    """
    session.data_to_send()
    data = b"".join(item if isinstance(item, bytes) else encode(item) for item in items)
    events = session.receive_data(data, now=now)
    return events, split_pdus(session.data_to_send())


def raw(command_id: int, body: bytes = b"", sequence: int = 1, status: int = 0) -> bytes:
    return (
        b"".join(n.to_bytes(4, "big") for n in (16 + len(body), command_id, status, sequence))
        + body
    )


# -- binding -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KIND_STATE)
def test_bind(kind: str) -> None:
    link = Link()
    events = link.bind(kind)
    [response, bound] = events
    assert isinstance(response, Response)
    assert response.ok
    assert response.request.command_id == factory.BIND_CLASSES[kind][0].command_id
    assert response.pdu.command_id == factory.BIND_CLASSES[kind][1].command_id
    assert bound == Bound(KIND_STATE[kind], "SMSC", 0x34)
    assert link.esme.state is link.smsc.state is KIND_STATE[kind]
    assert link.esme.bound
    assert link.smsc.bound
    assert link.esme.peer_interface_version == link.smsc.peer_interface_version == 0x34
    assert link.esme.outstanding == 0


@pytest.mark.parametrize("kind", KIND_STATE)
@pytest.mark.parametrize("status", [S.ESME_RBINDFAIL, S.ESME_RINVPASWD, S.ESME_RINVSYSID])
def test_bind_refused_by_the_smsc_application(kind: str, status: int) -> None:
    link = Link()
    link.esme.send(factory.bind(kind, password="wrong"), now=link.now)
    _, [bind_request] = link.shuttle()
    assert isinstance(bind_request, Pdu)
    assert bind_request.password == "wrong"
    link.smsc.respond(bind_request, status, now=link.now)
    esme_events, _ = link.shuttle()
    assert esme_events[-1] == BindFailed(status)
    assert not any(isinstance(event, Bound) for event in esme_events)
    assert link.esme.state is link.smsc.state is State.OPEN
    # The refusal carries no sc_interface_version: only a successful bind_resp does.
    assert link.sent_by_smsc[-1].tlvs == ()
    assert link.sent_by_smsc[-1].command_status == status


def test_bind_answered_with_generic_nack_fails() -> None:
    link = Link()
    sent = link.esme.send(factory.bind(), now=link.now)
    events, _ = inject(link.esme, factory.generic_nack(S.ESME_RINVCMDID, sent.sequence_number))
    assert events[-1] == BindFailed(S.ESME_RINVCMDID)
    assert link.esme.state is State.OPEN


@pytest.mark.parametrize(
    "answer",
    [
        factory.bind_resp("receiver"),  # asked for a transmitter bind
        SubmitSmResp(message_id="x"),
    ],
    ids=["other bind type", "not a bind_resp"],
)
def test_bind_answered_by_a_response_of_another_type_does_not_bind(answer: Pdu) -> None:
    link = Link()
    sent = link.esme.send(factory.bind("transmitter"), now=link.now)
    events, _ = inject(link.esme, dataclasses.replace(answer, sequence_number=sent.sequence_number))
    assert any(isinstance(event, ProtocolViolation) for event in events)
    assert not any(isinstance(event, Bound) for event in events)
    assert isinstance(events[-1], BindFailed)
    assert events[-1].status != 0
    assert link.esme.state is State.OPEN


def test_bind_resp_without_sc_interface_version_means_smpp_33() -> None:
    link = Link()
    link.esme.send(factory.bind(), now=link.now)
    _, [bind_request] = link.shuttle()
    assert isinstance(bind_request, Pdu)
    # The SMSC application answers without the TLV, as a 3.3 SMSC would (SMPP.md §3.2).
    link.smsc.respond(bind_request, now=link.now, system_id="OLD", tlvs=())
    [_, bound], _ = link.shuttle()
    assert link.sent_by_smsc[-1].tlvs == ()
    assert bound == Bound(State.BOUND_TRX, "OLD", 0x33)
    assert link.esme.peer_interface_version == 0x33


@pytest.mark.parametrize(("version", "tlv_expected"), [(0x34, True), (0x50, True), (0x33, False)])
def test_smsc_tells_its_version_only_to_a_34_peer(version: int, tlv_expected: bool) -> None:
    link = Link()
    [_, bound] = link.bind(interface_version=version)
    [bind_resp] = link.sent_by_smsc
    assert isinstance(bind_resp, BindTransceiverResp)
    if tlv_expected:
        assert bind_resp.tlvs == (Tlv(Tag.SC_INTERFACE_VERSION, b"\x34"),)
        assert bound == Bound(State.BOUND_TRX, "SMSC", 0x34)
    else:
        assert bind_resp.tlvs == ()
        assert bound == Bound(State.BOUND_TRX, "SMSC", 0x33)
    assert link.smsc.peer_interface_version == version


def test_only_an_smsc_answers_a_bind() -> None:
    link = Link()
    with pytest.raises(LocalProtocolError):
        link.esme.respond(factory.bind(), now=link.now)


def test_second_bind_is_answered_already_bound() -> None:
    link = bound_link("transmitter")
    for kind in KIND_STATE:
        events, answers = inject(link.smsc, factory.bind(kind, sequence_number=50))
        [violation] = events
        assert isinstance(violation, ProtocolViolation)
        assert violation.answered_with == S.ESME_RALYBND
        [answer] = answers
        assert answer.command_id == factory.BIND_CLASSES[kind][1].command_id
        assert (answer.command_status, answer.sequence_number) == (S.ESME_RALYBND, 50)
        assert link.smsc.state is State.BOUND_TX
    # Our own second bind is refused before it leaves.
    with pytest.raises(LocalProtocolError):
        link.esme.send(factory.bind(), now=link.now)


def test_outbind_then_bind_receiver() -> None:
    link = Link()
    sent = link.smsc.send(factory.outbind(), now=link.now)
    assert 1 <= sent.sequence_number <= MAX_SEQUENCE_NUMBER
    assert link.smsc.outstanding == 0  # outbind has no response
    [outbind], _ = link.shuttle()
    assert isinstance(outbind, Outbind)
    assert (outbind.system_id, outbind.password) == ("SMSC", "pw")
    assert link.sent_by_smsc == [sent]
    [_, bound] = link.bind("receiver")
    assert bound == Bound(State.BOUND_RX, "SMSC", 0x34)


# -- traffic -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["receiver", "transceiver"])
def test_deliver_sm_is_acked_by_the_esme_application(kind: str) -> None:
    link = bound_link(kind)
    sent = link.smsc.send(factory.deliver_sm("Your code is 1234"), now=link.now)
    [delivered], _ = link.shuttle()
    assert isinstance(delivered, DeliverSm)
    assert delivered == sent
    assert delivered.short_message == b"Your code is 1234"
    # Nothing is answered before the application says the message is safe.
    assert link.esme.data_to_send() == b""
    assert link.smsc.outstanding == 1
    link.esme.respond(delivered, now=link.now)
    _, [response] = link.shuttle()
    assert isinstance(response, Response)
    assert response.ok
    assert response.request == sent
    assert response.pdu == DeliverSmResp(sequence_number=sent.sequence_number)
    assert link.smsc.outstanding == 0


def test_deliver_sm_refused_by_the_esme_application() -> None:
    link = bound_link()
    link.smsc.send(factory.deliver_sm(), now=link.now)
    [delivered], _ = link.shuttle()
    assert isinstance(delivered, Pdu)
    link.esme.respond(delivered, S.ESME_RX_T_APPN, now=link.now)
    _, [response] = link.shuttle()
    assert isinstance(response, Response)
    assert not response.ok
    assert response.pdu.command_status == S.ESME_RX_T_APPN


@given(
    st.sampled_from([factory.deliver_sm(), factory.data_sm()]),
    st.integers(min_value=0, max_value=0xFF),
    st.integers(min_value=1, max_value=MAX_SEQUENCE_NUMBER),
)
def test_fast_deliver_sm_resp_is_what_the_encoder_would_send(
    pdu: Pdu, status: int, sequence: int
) -> None:
    # respond() packs deliver_sm_resp/data_sm_resp by hand for speed: same bytes as encode().
    session = Session(Role.ESME, now=0.0)
    pdu = dataclasses.replace(pdu, sequence_number=sequence)
    session.respond(pdu, status, now=0.0)
    expected = response_to(pdu, status)
    assert expected is not None
    assert session.data_to_send() == encode(expected)


# -- the deliver_sm fast path and respond_each ---------------------------------------------

#: What a bound receiver may read: deliver_sm (valid, damaged, with TLVs), data_sm,
#: enquire_link, unbind (after which deliver_sm is refused) and commands nobody knows.
receiver_traffic = st.lists(
    st.one_of(
        sst.pdus_of(DeliverSm).map(encode),
        sst.pdus_of(DeliverSm)
        .map(lambda pdu: encode(pdu)[16:])
        .flatmap(sst.mutated)
        .map(lambda body: raw(CommandId.DELIVER_SM, body, sequence=7)),
        sst.pdus_of(DataSm).map(encode),
        st.just(raw(CommandId.ENQUIRE_LINK, sequence=8)),
        st.just(raw(CommandId.UNBIND, sequence=9)),
        sst.unknown_pdus.map(encode),
    ),
    max_size=12,
)


def comparable(events: list[Event]) -> list[object]:
    """``events`` with each error spelled out: exceptions compare by identity."""
    return [
        (event.answered_with, type(event.error), str(event.error), event.error.status)
        if isinstance(event, ProtocolViolation)
        else event
        for event in events
    ]


@given(receiver_traffic)
def test_deliver_sm_fast_path_agrees_with_the_general_path(pdus: list[bytes]) -> None:
    """Bound, receive_data decodes deliver_sm itself, past _receive_one; in a read that began
    before the bind, every PDU takes the general path. The same traffic read either way gives
    the same events, the same answers and the same state."""
    bind_resp = encode(
        BindTransceiverResp(
            sequence_number=1,
            system_id="SMSC",
            tlvs=(Tlv(Tag.SC_INTERFACE_VERSION, b"\x34"),),
        )
    )
    traffic = b"".join(pdus)
    outcomes = []
    for reads in ([bind_resp, traffic], [bind_resp + traffic]):
        session = Session(Role.ESME, now=0.0)
        session.send(factory.bind("transceiver"), now=0.0)
        session.data_to_send()
        events: list[Event] = []
        for data in reads:
            events += session.receive_data(data, now=0.0)
        outcomes.append((comparable(events), session.data_to_send(), session.state))
    fast, general = outcomes
    assert fast == general


def test_deliver_sm_after_an_unbind_in_the_same_read_is_refused() -> None:
    link = bound_link()
    deliver = dataclasses.replace(factory.deliver_sm(), sequence_number=5)
    events, answers = inject(link.esme, raw(CommandId.UNBIND, sequence=4), deliver)
    assert [type(event) for event in events] == [Unbound, ProtocolViolation]
    assert [(type(a), a.command_status) for a in answers] == [
        (UnbindResp, 0),
        (DeliverSmResp, S.ESME_RINVBNDSTS),
    ]


answerable_requests = st.one_of(
    sst.pdus_of(DeliverSm),
    sst.pdus_of(DataSm),
    sst.pdus_of(SubmitSm),
    sst.pdus_of(QuerySm),
    st.builds(EnquireLink, sequence_number=sst.sequence_numbers),
    sst.unknown_pdus,
)


@given(st.lists(answerable_requests, max_size=6), st.integers(min_value=0, max_value=0xFF))
def test_respond_each_is_respond_for_each(requests: list[Pdu], status: int) -> None:
    # respond_each packs the answers to deliver_sm/data_sm in one go: same bytes, same order.
    one_by_one = Session(Role.ESME, now=0.0)
    for request in requests:
        one_by_one.respond(request, status, now=0.0)
    together = Session(Role.ESME, now=0.0)
    together.respond_each(requests, status, now=0.0)
    assert together.data_to_send() == one_by_one.data_to_send()


def test_submit_sm_and_its_response() -> None:
    link = bound_link("transmitter")
    sent = link.esme.send(factory.submit_sm("Hi"), now=link.now)
    assert sent.sequence_number == 2  # the bind took 1
    _, [submit] = link.shuttle()
    assert submit == sent
    assert isinstance(submit, Pdu)
    link.smsc.respond(submit, now=link.now, message_id="5F2A01")
    [response], _ = link.shuttle()
    assert isinstance(response, Response)
    assert response.pdu == SubmitSmResp(sequence_number=sent.sequence_number, message_id="5F2A01")
    assert response.request == sent


def test_window_limit() -> None:
    link = bound_link("transceiver", window=2)
    assert link.esme.window_available == 2
    first = link.esme.send(factory.submit_sm("1"), now=link.now)
    link.esme.send(factory.submit_sm("2"), now=link.now)
    assert link.esme.window_available == 0
    with pytest.raises(WindowFull):
        link.esme.send(factory.submit_sm("3"), now=link.now)
    assert issubclass(WindowFull, LocalProtocolError)
    _, submits = link.shuttle()
    assert len(submits) == 2
    # A full send window does not stop us reading and answering (SMPP.md §11.5).
    link.smsc.send(factory.deliver_sm(), now=link.now)
    [delivered], _ = link.shuttle()
    assert isinstance(delivered, Pdu)
    link.esme.respond(delivered, now=link.now)
    link.shuttle()
    # Nor does it block enquire_link or unbind.
    link.esme.send(EnquireLink(), now=link.now)
    assert link.esme.outstanding == 3
    link.shuttle()
    # One answer frees one slot.
    assert isinstance(submits[0], Pdu)
    link.smsc.respond(submits[0], now=link.now, message_id="a")
    [response], _ = link.shuttle()
    assert isinstance(response, Response)
    assert response.request == first
    assert link.esme.window_available == 1
    link.esme.send(factory.submit_sm("3"), now=link.now)
    with pytest.raises(WindowFull):
        link.esme.send(factory.submit_sm("4"), now=link.now)


def test_enquire_link_does_not_take_a_window_slot() -> None:
    link = bound_link("transceiver", window=1)
    link.esme.send(EnquireLink(), now=link.now)
    assert link.esme.window_available == 1
    link.esme.send(factory.submit_sm(), now=link.now)
    assert link.esme.window_available == 0
    assert link.esme.outstanding == 2
    link.shuttle()  # the SMSC answers the enquire_link by itself
    assert link.esme.window_available == 0
    assert link.esme.outstanding == 1


@given(st.permutations(range(6)))
def test_responses_in_any_order_are_matched_by_sequence_number(order: list[int]) -> None:
    link = bound_link("transmitter")
    sent = [link.esme.send(factory.submit_sm(f"m{i}"), now=link.now) for i in range(6)]
    _, submits = link.shuttle()
    assert submits == sent
    for index in order:
        submit = submits[index]
        assert isinstance(submit, SubmitSm)
        link.smsc.respond(submit, now=link.now, message_id=submit.short_message.decode())
    events, _ = link.shuttle()
    assert [type(event) for event in events] == [Response] * 6
    for event, index in zip(events, order, strict=True):
        assert isinstance(event, Response)
        assert event.request == sent[index]
        assert event.pdu.message_id == f"m{index}"
    assert link.esme.outstanding == 0


def test_sequence_numbers_wrap_and_skip_outstanding_ones() -> None:
    link = bound_link("transmitter", window=10)
    esme = link.esme
    assert [esme.send(factory.submit_sm(), now=link.now).sequence_number for _ in range(2)] == [
        2,
        3,
    ]
    # Jump to the end of the range rather than send two billion PDUs.
    esme._next_sequence = MAX_SEQUENCE_NUMBER - 1
    numbers = [esme.send(factory.submit_sm(), now=link.now).sequence_number for _ in range(4)]
    # 1 is free again (the bind was answered); 2 and 3 are still outstanding.
    assert numbers == [MAX_SEQUENCE_NUMBER - 1, MAX_SEQUENCE_NUMBER, 1, 4]
    _, submits = link.shuttle()
    for submit in submits:
        assert isinstance(submit, Pdu)
        link.smsc.respond(submit, now=link.now, message_id=str(submit.sequence_number))
    events, _ = link.shuttle()
    assert sorted(event.pdu.sequence_number for event in events if isinstance(event, Response)) == (
        sorted([2, 3, *numbers])
    )
    assert esme.outstanding == 0


def test_generic_nack_settles_the_request() -> None:
    link = bound_link()
    sent = link.esme.send(factory.submit_sm(), now=link.now)
    events, answers = inject(link.esme, factory.generic_nack(S.ESME_RSYSERR, sent.sequence_number))
    [response] = events
    assert isinstance(response, Response)
    assert not response.ok
    assert isinstance(response.pdu, GenericNack)
    assert response.request == sent
    assert answers == []  # a generic_nack is never answered
    assert link.esme.outstanding == 0


def test_response_of_the_wrong_type_settles_the_request_and_is_reported() -> None:
    link = bound_link()
    sent = link.esme.send(factory.submit_sm(), now=link.now)
    events, _ = inject(link.esme, DeliverSmResp(sequence_number=sent.sequence_number))
    assert [type(event) for event in events] == [ProtocolViolation, Response]
    assert link.esme.outstanding == 0


def test_alert_notification_is_not_answered() -> None:
    link = bound_link("receiver")
    sent_before = len(link.sent_by_esme)
    sent = link.smsc.send(AlertNotification(source_addr="447700900123"), now=link.now)
    assert sent.sequence_number != 0
    assert link.smsc.outstanding == 0
    [alert], _ = link.shuttle()
    assert alert == sent
    assert len(link.sent_by_esme) == sent_before  # no answer


def test_connection_lost_returns_unanswered_requests() -> None:
    link = bound_link()
    sent = [link.esme.send(factory.submit_sm(str(i)), now=link.now) for i in range(3)]
    assert link.esme.connection_lost() == sent
    assert link.esme.state is State.CLOSED
    assert link.esme.outstanding == 0
    with pytest.raises(LocalProtocolError):
        link.esme.send(factory.submit_sm(), now=link.now)
    assert link.esme.receive_data(encode(EnquireLink(sequence_number=1)), now=link.now) == []


# -- enquire_link and timers ---------------------------------------------------------------


def test_enquire_link_is_answered_by_the_session() -> None:
    link = bound_link()
    sent = link.esme.send(EnquireLink(), now=link.now)
    esme_events, smsc_events = link.shuttle()
    assert smsc_events == []  # nothing for the SMSC application to do
    assert link.sent_by_smsc == [
        link.sent_by_smsc[0],  # the bind_resp
        EnquireLinkResp(sequence_number=sent.sequence_number),
    ]
    [response] = esme_events
    assert isinstance(response, Response)
    assert response.ok
    assert response.request == sent


def test_enquire_link_before_bind_is_answered() -> None:
    session = Session(Role.ESME, now=0.0)
    events, answers = inject(session, EnquireLink(sequence_number=7))
    assert events == []
    assert answers == [EnquireLinkResp(sequence_number=7)]


def test_enquire_link_sent_after_the_interval() -> None:
    link = bound_link(enquire_link_interval=30.0, response_timeout=10.0)
    bound_at = link.now
    assert link.esme.next_deadline() == bound_at + 30.0
    assert link.esme.handle_timers(now=bound_at + 29.9) == []
    assert link.esme.data_to_send() == b""
    assert link.esme.handle_timers(now=link.clock.advance(30.0)) == []
    [enquire] = split_pdus(link.esme.data_to_send())
    assert isinstance(enquire, EnquireLink)
    assert link.esme.outstanding == 1
    # Waiting for the answer now: the response timer is next.
    assert link.esme.next_deadline() == link.now + 10.0
    # Another tick before the answer does not send a second enquire_link.
    link.esme.handle_timers(now=link.now)
    assert link.esme.data_to_send() == b""
    events = link.smsc.receive_data(encode(enquire), now=link.clock.advance(1.0))
    assert events == []
    [response] = link.esme.receive_data(link.smsc.data_to_send(), now=link.now)
    assert isinstance(response, Response)
    assert isinstance(response.pdu, EnquireLinkResp)
    assert link.esme.next_deadline() == link.now + 30.0


def test_traffic_postpones_enquire_link() -> None:
    link = bound_link(enquire_link_interval=30.0)
    link.clock.advance(20.0)
    link.smsc.send(factory.deliver_sm(), now=link.now)
    [delivered], _ = link.shuttle()
    assert isinstance(delivered, Pdu)
    link.esme.respond(delivered, now=link.now)
    link.shuttle()
    assert link.esme.next_deadline() == link.now + 30.0
    assert link.esme.handle_timers(now=link.clock.advance(29.0)) == []
    assert link.esme.data_to_send() == b""


@given(
    interval=st.floats(min_value=1.0, max_value=100.0),
    response_timeout=st.floats(min_value=1.0, max_value=100.0),
)
def test_timers_never_ask_to_be_run_in_the_past(interval: float, response_timeout: float) -> None:
    # If next_deadline() stays at or before the time handle_timers() just ran, an I/O loop
    # that sleeps until next_deadline() spins at 100% CPU.
    link = bound_link(enquire_link_interval=interval, response_timeout=response_timeout)
    esme = link.esme
    for _ in range(6):  # the SMSC never answers: enquire_link, time out, again...
        deadline = esme.next_deadline()
        assert deadline is not None
        esme.handle_timers(now=deadline)
        esme.data_to_send()
        following = esme.next_deadline()
        assert following is not None
        assert following > deadline


def test_response_timeout_and_late_response() -> None:
    link = bound_link(response_timeout=10.0, enquire_link_interval=None)
    sent = link.esme.send(factory.submit_sm(), now=link.now)
    _, [submit] = link.shuttle()
    assert link.esme.next_deadline() == link.now + 10.0
    assert link.esme.handle_timers(now=link.now + 9.99) == []
    events = link.esme.handle_timers(now=link.clock.advance(10.0))
    assert events == [ResponseTimeout(sent)]
    assert link.esme.outstanding == 0
    assert link.esme.window_available == link.esme.config.window
    assert link.esme.next_deadline() is None
    assert link.esme.handle_timers(now=link.clock.advance(100.0)) == []
    # The answer arrives after all: reported, not matched to anything.
    assert isinstance(submit, Pdu)
    link.smsc.respond(submit, now=link.now, message_id="late")
    [late], _ = link.shuttle()
    assert late == UnexpectedResponse(
        SubmitSmResp(sequence_number=sent.sequence_number, message_id="late")
    )


def test_next_deadline_is_the_earliest_timer() -> None:
    link = bound_link(response_timeout=5.0, enquire_link_interval=30.0, inactivity_timeout=300.0)
    start = link.now
    assert link.esme.next_deadline() == start + 30.0
    link.clock.advance(2.0)
    link.esme.send(factory.submit_sm(), now=link.now)
    assert link.esme.next_deadline() == start + 2.0 + 5.0
    link.esme.connection_lost()
    assert link.esme.next_deadline() is None


def test_open_esme_has_no_timer() -> None:
    assert Session(Role.ESME, now=5.0).next_deadline() is None


def test_session_init_timeout() -> None:
    clock = Clock()
    smsc = Session(Role.SMSC, SessionConfig(session_init_timeout=10.0), now=clock.now)
    assert smsc.next_deadline() == clock.now + 10.0
    assert smsc.handle_timers(now=clock.now + 9.9) == []
    assert smsc.handle_timers(now=clock.advance(10.0)) == [SessionInitTimeout()]


def test_session_init_timer_stops_at_bind() -> None:
    link = Link(smsc_config=SessionConfig(session_init_timeout=10.0, enquire_link_interval=None))
    link.clock.advance(5.0)
    link.bind()
    assert link.smsc.next_deadline() is None
    assert link.smsc.handle_timers(now=link.clock.advance(60.0)) == []


def test_inactivity_timeout() -> None:
    link = bound_link(inactivity_timeout=60.0, enquire_link_interval=None)
    assert link.esme.next_deadline() == link.now + 60.0
    assert link.esme.handle_timers(now=link.now + 59.0) == []
    assert link.esme.handle_timers(now=link.clock.advance(60.0)) == [InactivityTimeout()]


# -- unbind --------------------------------------------------------------------------------


@pytest.mark.parametrize("initiator", ["esme", "smsc"])
def test_unbind_from_either_side(initiator: str) -> None:
    link = bound_link()
    me, peer = (link.esme, link.smsc) if initiator == "esme" else (link.smsc, link.esme)
    me.unbind(now=link.now)
    assert me.state is State.UNBOUND
    with pytest.raises(LocalProtocolError):
        me.send(factory.submit_sm() if me is link.esme else factory.deliver_sm(), now=link.now)
    esme_events, smsc_events = link.shuttle()
    my_events, peer_events = (
        (esme_events, smsc_events) if initiator == "esme" else (smsc_events, esme_events)
    )
    assert peer_events == [Unbound(by_peer=True)]
    [response, unbound] = my_events
    assert isinstance(response, Response)
    assert isinstance(response.pdu, UnbindResp)
    assert unbound == Unbound(by_peer=False)
    assert me.state is peer.state is State.UNBOUND
    assert me.outstanding == 0


def test_peer_requests_after_unbind_are_refused() -> None:
    link = bound_link()
    link.esme.unbind(now=link.now)
    # A deliver_sm the SMSC sent before it saw the unbind: refused, so it is redelivered later.
    events, answers = inject(link.esme, factory.deliver_sm(sequence_number=70))
    assert [type(event) for event in events] == [ProtocolViolation]
    assert answers == [DeliverSmResp(sequence_number=70, command_status=S.ESME_RINVBNDSTS)]


# -- what the peer gets wrong --------------------------------------------------------------


def test_deliver_sm_to_a_transmitter_is_refused() -> None:
    link = bound_link("transmitter")
    with pytest.raises(LocalProtocolError):
        link.smsc.send(factory.deliver_sm(), now=link.now)
    events, answers = inject(link.esme, factory.deliver_sm(sequence_number=33))
    [violation] = events
    assert isinstance(violation, ProtocolViolation)
    assert violation.answered_with == S.ESME_RINVBNDSTS
    assert answers == [DeliverSmResp(sequence_number=33, command_status=S.ESME_RINVBNDSTS)]
    assert link.esme.state is State.BOUND_TX
    # Still up: the next request is served.
    assert inject(link.esme, EnquireLink(sequence_number=34))[1] == [
        EnquireLinkResp(sequence_number=34)
    ]


def test_submit_sm_before_bind_is_refused() -> None:
    link = Link()
    with pytest.raises(LocalProtocolError):
        link.esme.send(factory.submit_sm(), now=link.now)
    events, answers = inject(link.smsc, factory.submit_sm(sequence_number=4))
    assert [type(event) for event in events] == [ProtocolViolation]
    assert answers == [SubmitSmResp(sequence_number=4, command_status=S.ESME_RINVBNDSTS)]
    assert link.smsc.state is State.OPEN
    link.bind()  # and binding still works


def test_unknown_command_is_nacked_and_the_next_pdu_is_processed() -> None:
    link = bound_link()
    events, answers = inject(
        link.smsc,
        raw(0x00000022, b"\x01\x02\x03", sequence=0x42),
        EnquireLink(sequence_number=0x43),
        factory.submit_sm(sequence_number=0x44),
    )
    [violation, submit] = events
    assert isinstance(violation, ProtocolViolation)
    assert violation.answered_with == S.ESME_RINVCMDID
    assert violation.error.sequence_number == 0x42
    assert submit == factory.submit_sm(sequence_number=0x44)
    assert answers == [
        GenericNack(sequence_number=0x42, command_status=S.ESME_RINVCMDID),
        EnquireLinkResp(sequence_number=0x43),
    ]
    assert link.smsc.state is State.BOUND_TRX


def test_unknown_response_is_not_nacked() -> None:
    link = bound_link()
    events, answers = inject(link.esme, raw(0x80000022, sequence=0x42))
    assert [type(event) for event in events] == [UnexpectedResponse]
    assert answers == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(
            b"\x00\x05\x00" + b"S" * 30 + b"\x00", S.ESME_RINVSRCADR, id="source_addr too long"
        ),
        pytest.param(
            encode(factory.submit_sm())[16:] + b"\x04\x24\x00", S.ESME_RINVOPTPARSTREAM, id="tlv"
        ),
        pytest.param(b"", S.ESME_RINVMSGLEN, id="empty body"),
    ],
)
def test_malformed_request_is_answered_with_the_decoder_status(body: bytes, status: int) -> None:
    link = bound_link()
    events, answers = inject(
        link.smsc, raw(CommandId.SUBMIT_SM, body, sequence=0x51), EnquireLink(sequence_number=0x52)
    )
    [violation] = events
    assert isinstance(violation, ProtocolViolation)
    assert violation.answered_with == status
    assert violation.error.status == status
    assert answers == [
        SubmitSmResp(sequence_number=0x51, command_status=status),
        EnquireLinkResp(sequence_number=0x52),
    ]
    assert link.smsc.state is State.BOUND_TRX


def test_malformed_request_without_response_is_nacked() -> None:
    link = bound_link("receiver")
    events, answers = inject(link.esme, raw(CommandId.ALERT_NOTIFICATION, b"\x01\x01", sequence=9))
    assert [type(event) for event in events] == [ProtocolViolation]
    assert answers == [GenericNack(sequence_number=9, command_status=S.ESME_RINVSRCADR)]


def test_malformed_response_settles_its_request() -> None:
    link = bound_link()
    sent = link.esme.send(factory.submit_sm(), now=link.now)
    events, answers = inject(
        link.esme, raw(CommandId.SUBMIT_SM_RESP, b"no-nul", sequence=sent.sequence_number)
    )
    assert [type(event) for event in events] == [ProtocolViolation, ResponseTimeout]
    assert answers == []
    assert link.esme.outstanding == 0


@pytest.mark.parametrize("length", [0, 15, 70_001])
@pytest.mark.parametrize("after_a_pdu", [True, False])
def test_framing_error_nacks_and_breaks_the_session(length: int, after_a_pdu: bool) -> None:
    link = bound_link()
    garbage = length.to_bytes(4, "big") + b"\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x09"
    delivered = factory.deliver_sm(sequence_number=8)
    events, answers = inject(link.esme, *([delivered] if after_a_pdu else []), garbage)
    if after_a_pdu:
        # The deliver_sm that came before the garbage in the same read is not lost.
        assert events.pop(0) == delivered
    [broken] = events
    assert isinstance(broken, ConnectionBroken)
    assert isinstance(broken.error, FramingError)
    assert answers == [GenericNack(sequence_number=0, command_status=S.ESME_RINVCMDLEN)]
    assert link.esme.state is State.CLOSED
    assert link.esme.receive_data(encode(EnquireLink(sequence_number=1)), now=link.now) == []
    assert link.esme.data_to_send() == b""


def test_framing_error_in_a_later_read() -> None:
    link = bound_link()
    assert link.esme.receive_data(encode(EnquireLink(sequence_number=3))[:10], now=link.now) == []
    events = link.esme.receive_data(b"\x00" * 6 + b"\xff" * 20, now=link.now)
    assert [type(event) for event in events] == [ConnectionBroken]
    assert link.esme.state is State.CLOSED


# -- the tables themselves -----------------------------------------------------------------


def link_in(state: State) -> Link:
    """A fresh link whose two sessions reached ``state`` through real traffic."""
    if state is State.OPEN:
        return Link()
    if state in BOUND_STATES:
        kind = next(kind for kind, bound in KIND_STATE.items() if bound is state)
        return bound_link(kind)
    link = bound_link()
    if state is State.UNBOUND:
        link.esme.unbind(now=link.now)
        link.shuttle()
    else:
        link.esme.connection_lost()
        link.smsc.connection_lost()
    assert link.esme.state is link.smsc.state is state
    return link


ROLE_STATES = [
    pytest.param(role, state, id=f"{role.name}-{state.name}") for role in Role for state in State
]
KIND_STATE_IDS = {CommandId.BIND_TRANSMITTER, CommandId.BIND_RECEIVER, CommandId.BIND_TRANSCEIVER}


@pytest.mark.parametrize(("role", "state"), ROLE_STATES)
def test_send_table(role: Role, state: State) -> None:
    # Every command in every state: what the table lists is sent, anything else raises.
    for command_id in [*REQUEST_IDS, CommandId.GENERIC_NACK]:
        name = CommandId(command_id).name
        link = link_in(state)
        session = link.esme if role is Role.ESME else link.smsc
        pdu = request(command_id)
        allowed = SEND_TABLE[role].get((state, command_id))
        if allowed is None:
            with pytest.raises(LocalProtocolError):
                session.send(pdu, now=link.now)
            assert session.state is state, name
            assert session.data_to_send() == b"", name
            continue
        sent = session.send(pdu, now=link.now)
        assert session.state is allowed, name
        assert split_pdus(session.data_to_send()) == [sent], name


@pytest.mark.parametrize(("role", "state"), ROLE_STATES)
def test_receive_table(role: Role, state: State) -> None:
    # Every request in every state: what the table lists is accepted, anything else is
    # answered ESME_RINVBNDSTS (ESME_RALYBND for a bind when bound) and the session stays.
    for command_id in REQUEST_IDS:
        name = CommandId(command_id).name
        link = link_in(state)
        session = link.esme if role is Role.ESME else link.smsc
        pdu = request(command_id, sequence_number=99)
        events, answers = inject(session, pdu, now=link.now)
        if state is State.CLOSED:
            assert (events, answers) == ([], []), name
            continue
        allowed = RECEIVE_TABLE[role].get((state, command_id))
        if allowed is None:
            expected_status = (
                S.ESME_RALYBND
                if command_id in KIND_STATE_IDS and state in BOUND_STATES
                else S.ESME_RINVBNDSTS
            )
            [violation] = events
            assert isinstance(violation, ProtocolViolation), name
            assert violation.answered_with == expected_status, name
            expected_answer = response_to(pdu, expected_status) or GenericNack(
                sequence_number=99, command_status=expected_status
            )
            assert answers == [expected_answer], name
            assert session.state is state, name
            continue
        assert session.state is allowed, name
        if command_id == CommandId.ENQUIRE_LINK:
            assert (events, answers) == ([], [EnquireLinkResp(sequence_number=99)])
        elif command_id == CommandId.UNBIND:
            assert (events, answers) == ([Unbound(by_peer=True)], [UnbindResp(sequence_number=99)])
        else:
            assert (events, answers) == ([pdu], []), name


def test_tables_name_only_known_states_and_commands() -> None:
    for tables in (SEND_TABLE, RECEIVE_TABLE):
        assert set(tables) == set(Role)
        for table in tables.values():
            for (state, command_id), next_state in table.items():
                assert isinstance(state, State)
                assert isinstance(next_state, State)
                assert command_id in set(CommandId)
                assert state is not State.CLOSED


def test_requests_only_flow_the_way_smpp_34_allows() -> None:
    # SMPP.md §2 "Sent by": whatever the state, an ESME never accepts what only an ESME
    # sends, and an SMSC never accepts what only an SMSC sends.
    esme_only = {
        CommandId.BIND_RECEIVER,
        CommandId.BIND_TRANSMITTER,
        CommandId.BIND_TRANSCEIVER,
        CommandId.SUBMIT_SM,
        CommandId.SUBMIT_MULTI,
        CommandId.QUERY_SM,
        CommandId.CANCEL_SM,
        CommandId.REPLACE_SM,
    }
    smsc_only = {CommandId.DELIVER_SM, CommandId.ALERT_NOTIFICATION, CommandId.OUTBIND}
    for state in State:
        for command_id in esme_only:
            assert (state, command_id) not in RECEIVE_TABLE[Role.ESME]
            assert (state, command_id) not in SEND_TABLE[Role.SMSC]
        for command_id in smsc_only:
            assert (state, command_id) not in RECEIVE_TABLE[Role.SMSC]
            assert (state, command_id) not in SEND_TABLE[Role.ESME]
        for role in Role:
            # Only unbind leaves a bound state before a bind_resp does.
            for (from_state, command_id), to_state in SEND_TABLE[role].items():
                if to_state is not from_state:
                    assert command_id == CommandId.UNBIND or command_id & RESPONSE_BIT


def test_tables_follow_smpp_34() -> None:
    # Spot checks against SMPP.md §2 and §11.1, independent of how the tables are built.
    esme_send, smsc_send = SEND_TABLE[Role.ESME], SEND_TABLE[Role.SMSC]
    esme_receive, smsc_receive = RECEIVE_TABLE[Role.ESME], RECEIVE_TABLE[Role.SMSC]
    assert (State.BOUND_TX, CommandId.SUBMIT_SM) in esme_send
    assert (State.BOUND_RX, CommandId.SUBMIT_SM) not in esme_send
    assert (State.OPEN, CommandId.SUBMIT_SM) not in esme_send
    assert (State.BOUND_RX, CommandId.DELIVER_SM) in smsc_send
    assert (State.BOUND_TX, CommandId.DELIVER_SM) not in smsc_send
    assert (State.BOUND_TX, CommandId.DELIVER_SM) not in esme_receive
    assert (State.BOUND_TRX, CommandId.DELIVER_SM) in esme_receive
    assert (State.OPEN, CommandId.OUTBIND) in smsc_send
    assert (State.OPEN, CommandId.OUTBIND) in esme_receive
    assert (State.BOUND_RX, CommandId.DATA_SM) not in smsc_receive
    assert (State.BOUND_TX, CommandId.DATA_SM) in smsc_receive
    assert esme_send[State.BOUND_TRX, CommandId.UNBIND] is State.UNBOUND
    assert smsc_receive[State.BOUND_TX, CommandId.UNBIND] is State.UNBOUND
    assert (State.OPEN, CommandId.BIND_RECEIVER) in smsc_receive
    assert (State.BOUND_RX, CommandId.BIND_RECEIVER) not in smsc_receive
    assert isinstance(request(CommandId.BIND_RECEIVER), BindReceiver)


# -- the application's own mistakes --------------------------------------------------------


def test_local_mistakes_raise() -> None:
    link = bound_link()
    with pytest.raises(LocalProtocolError, match="respond"):
        link.esme.send(SubmitSmResp(), now=link.now)
    with pytest.raises(LocalProtocolError, match="no response"):
        link.esme.respond(factory.outbind(), now=link.now)
    with pytest.raises(LocalProtocolError, match="no response"):
        link.esme.respond(AlertNotification(), now=link.now)
    assert link.esme.data_to_send() == b""


def test_smsc_cannot_accept_two_binds() -> None:
    link = Link()
    smsc = link.smsc
    events = smsc.receive_data(
        factory.wire(factory.bind(sequence_number=1), factory.bind(sequence_number=2)),
        now=link.now,
    )
    first, second = events
    assert isinstance(first, Pdu)
    assert isinstance(second, Pdu)
    smsc.respond(first, now=link.now)
    assert smsc.state is State.BOUND_TRX
    with pytest.raises(LocalProtocolError):
        smsc.respond(second, now=link.now)
    smsc.respond(second, S.ESME_RALYBND, now=link.now)  # refusing it is fine
    assert [pdu.command_status for pdu in split_pdus(smsc.data_to_send())] == [0, S.ESME_RALYBND]


def test_malformed_sc_interface_version_means_smpp_33() -> None:
    link = Link()
    sent = link.esme.send(factory.bind(), now=link.now)
    answer = factory.bind_resp(
        sequence_number=sent.sequence_number,
        tlvs=(Tlv(Tag.SC_INTERFACE_VERSION, b"\x00\x34"),),
    )
    events, _ = inject(link.esme, answer)
    assert events[-1] == Bound(State.BOUND_TRX, "SMSC", 0x33)


def test_malformed_late_response_is_reported() -> None:
    link = bound_link()
    events, answers = inject(link.esme, raw(CommandId.SUBMIT_SM_RESP, b"no-nul", sequence=77))
    assert [type(event) for event in events] == [ProtocolViolation]
    assert answers == []


def test_closed_session_has_no_timers() -> None:
    link = bound_link(inactivity_timeout=1.0)
    link.esme.send(factory.submit_sm(), now=link.now)
    link.esme.data_to_send()
    link.esme.connection_lost()
    assert link.esme.next_deadline() is None
    assert link.esme.handle_timers(now=link.clock.advance(1000.0)) == []
    assert link.esme.data_to_send() == b""
