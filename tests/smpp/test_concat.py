"""Long messages: UDH parsing, splitting and reassembly (SMPP.md §7.3, §8)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp.concat import (
    CompletedMessage,
    ConcatInfo,
    InformationElement,
    Reassembler,
    Segment,
    SegmentOut,
    SplitMethod,
    find_concat,
    split_message,
    split_udh,
)
from smslocker.smpp.errors import DecodeError, LocalProtocolError
from smslocker.smpp.text import gsm7_encode, pack_septets

METHODS: tuple[SplitMethod, ...] = get_args(SplitMethod)
GSM_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà\f^{}\\[~]|€"
)
# Any text a UCS2 message can carry: everything but lone surrogates.
sendable_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=700)
message_text = st.one_of(st.text(alphabet=GSM_ALPHABET, max_size=1200), sendable_text)


def incoming(
    out: SegmentOut,
    data_coding: int,
    *,
    source: str = "447700900123",
    destination: str = "12345",
    origin: str = "smsc-a",
) -> Segment:
    """The deliver_sm an SMSC would send for one of our SegmentOuts."""
    sar = out.sar
    return Segment(
        source=source,
        destination=destination,
        esm_class=0x40 if out.esm_class_udhi else 0x00,
        data_coding=data_coding,
        short_message=out.short_message,
        message_payload=out.message_payload,
        sar_msg_ref_num=sar[0] if sar else None,
        sar_total_segments=sar[1] if sar else None,
        sar_segment_seqnum=sar[2] if sar else None,
        origin=origin,
    )


def feed(
    reassembler: Reassembler, segments: Iterable[Segment], now: float = 0.0
) -> list[CompletedMessage]:
    done = []
    for segment in segments:
        result = reassembler.add(segment, now)
        if result is not None:
            done.append(result)
    return done


def udh8(reference: int, total: int, number: int, text: bytes) -> Segment:
    return Segment("111", "222", 0x40, 0x00, bytes([5, 0, 3, reference, total, number]) + text)


# --------------------------------------------------------------------- UDH parsing


def test_split_udh_worked_example_8_bit() -> None:
    elements, rest = split_udh(bytes.fromhex("050003A70301") + b"Hi")
    assert elements == [InformationElement(0x00, bytes.fromhex("A70301"))]
    assert rest == b"Hi"
    assert find_concat(elements) == ConcatInfo(0xA7, 3, 1, 8)


def test_split_udh_16_bit_reference() -> None:
    elements, rest = split_udh(bytes.fromhex("06080412340201") + b"x")
    assert find_concat(elements) == ConcatInfo(0x1234, 2, 1, 16)
    assert rest == b"x"


def test_split_udh_keeps_unknown_elements() -> None:
    # Port addressing (0x05) before the concat IE, and an unknown IEI 0x70.
    data = bytes.fromhex("0D 05 04 0B 84 23 F0 70 00 00 03 01 02 01") + b"body"
    elements, rest = split_udh(data)
    assert [element.iei for element in elements] == [0x05, 0x70, 0x00]
    assert elements[1].data == b""
    assert find_concat(elements) == ConcatInfo(1, 2, 1, 8)
    assert rest == b"body"


@pytest.mark.parametrize(
    "data",
    [b"", bytes.fromhex("05000301"), bytes.fromhex("0300050102"), bytes.fromhex("0100")],
)
def test_split_udh_refuses_overruns(data: bytes) -> None:
    with pytest.raises(DecodeError):
        split_udh(data)


def test_find_concat_ignores_wrong_lengths_and_takes_the_last() -> None:
    wrong = InformationElement(0x00, b"\x01\x02")
    first = InformationElement(0x00, b"\x01\x02\x01")
    last = InformationElement(0x08, b"\x00\x09\x02\x02")
    assert find_concat([wrong]) is None
    assert find_concat([first, wrong, last]) == ConcatInfo(9, 2, 2, 16)


@pytest.mark.parametrize(
    ("info", "valid"),
    [
        ((1, 3, 1), True),
        ((1, 3, 3), True),
        ((1, 3, 0), False),
        ((1, 3, 4), False),
        ((1, 0, 0), False),
    ],
)
def test_concat_validity(info: tuple[int, int, int], valid: bool) -> None:
    assert ConcatInfo(*info, 8).is_valid is valid


# --------------------------------------------------------------------- splitting


@pytest.mark.parametrize(
    ("text", "method", "capacity", "overhead"),
    [
        ("a" * 400, "udh8", 153, 6),
        ("a" * 400, "udh16", 152, 7),
        ("a" * 400, "sar", 152, 0),
        ("Ж" * 200, "udh8", 134, 6),
        ("Ж" * 200, "udh16", 132, 7),
        ("Ж" * 200, "sar", 132, 0),
    ],
)
def test_segment_capacities(text: str, method: SplitMethod, capacity: int, overhead: int) -> None:
    _, segments = split_message(text, method, 7)
    assert all(len(s.short_message) == capacity + overhead for s in segments[:-1])
    assert len(segments[-1].short_message) <= capacity + overhead


def test_latin1_capacity() -> None:
    coding, segments = split_message("é" * 300, "udh8", 1, data_coding=0x03)
    assert coding == 0x03
    assert [len(s.short_message) - 6 for s in segments] == [134, 134, 32]
    _, segments = split_message("é" * 300, "udh16", 1, data_coding=0x03)
    assert [len(s.short_message) - 7 for s in segments] == [133, 133, 34]


@pytest.mark.parametrize(("text", "coding"), [("a" * 160, 0x00), ("Ж" * 70, 0x08)])
def test_a_text_that_fits_is_one_plain_segment(text: str, coding: int) -> None:
    for method in ("udh8", "udh16", "sar"):
        assert split_message(text, method, 1) == (
            coding,
            [SegmentOut(text.encode("utf-16-be") if coding else text.encode("ascii"))],
        )
    assert len(split_message(text + "a", "udh8", 1)[1]) == 2


def test_payload_always_uses_message_payload() -> None:
    assert split_message("Hi", "payload", 1) == (0x00, [SegmentOut(b"", False, None, b"Hi")])
    coding, segments = split_message("Ж" * 500, "payload", 1)
    assert coding == 0x08
    assert segments == [SegmentOut(b"", False, None, ("Ж" * 500).encode("utf-16-be"))]


def test_udh8_worked_layout() -> None:
    _, segments = split_message("x" * 300, "udh8", 0xA7)
    assert [s.short_message[:6].hex() for s in segments] == ["050003a70201", "050003a70202"]
    assert all(s.esm_class_udhi and s.sar is None for s in segments)


def test_udh16_and_sar_layout() -> None:
    _, segments = split_message("x" * 300, "udh16", 0x1234)
    assert segments[1].short_message[:7].hex() == "06080412340202"
    _, segments = split_message("x" * 300, "sar", 0x1234)
    assert [s.sar for s in segments] == [(0x1234, 2, 1), (0x1234, 2, 2)]
    assert not any(s.esm_class_udhi for s in segments)
    assert segments[0].short_message == b"x" * 152


def test_never_splits_an_escape_pair() -> None:
    text = "a" * 152 + "€" + "b" * 10
    _, segments = split_message(text, "udh8", 1)
    assert segments[0].short_message[6:] == b"a" * 152
    assert segments[1].short_message[6:8] == b"\x1be"


def test_never_splits_a_surrogate_pair() -> None:
    text = "Ж" * 66 + "😀" + "Ж" * 10
    _, segments = split_message(text, "udh8", 1)
    assert len(segments[0].short_message) == 6 + 132
    assert segments[1].short_message[6:10] == "😀".encode("utf-16-be")


@pytest.mark.parametrize(("data_coding", "char"), [(0x0A, "日"), (0x0E, "한")])
def test_never_splits_a_multibyte_character(data_coding: int, char: str) -> None:
    text = char * 150
    _, segments = split_message(text, "udh8", 1, data_coding)
    assert len(segments) > 1
    assert all(len(s.short_message) <= 140 for s in segments)
    for segment in segments:
        segment.short_message[6:].decode({0x0A: "iso2022_jp", 0x0E: "euc_kr"}[data_coding])
    done = feed(Reassembler(), [incoming(s, data_coding) for s in segments])
    assert done[0].text == text


def test_255_parts_work_and_256_are_refused() -> None:
    _, segments = split_message("a" * 153 * 255, "udh8", 9)
    assert len(segments) == 255
    done = feed(Reassembler(), [incoming(s, 0) for s in reversed(segments)])
    assert len(done) == 1
    assert done[0].text == "a" * 153 * 255
    assert done[0].parts == done[0].parts_received == 255
    with pytest.raises(LocalProtocolError, match="256"):
        split_message("a" * (153 * 255 + 1), "udh8", 9)


@pytest.mark.parametrize(("method", "reference"), [("udh8", 256), ("udh16", 65536), ("sar", -1)])
def test_reference_out_of_range(method: SplitMethod, reference: int) -> None:
    with pytest.raises(LocalProtocolError):
        split_message("a" * 200, method, reference)


# --------------------------------------------------------------------- reassembly


@given(
    text=message_text,
    method=st.sampled_from(METHODS),
    reference=st.integers(0, 255),
    data=st.data(),
)
def test_split_then_reassemble_in_any_order_with_duplicates(
    text: str, method: SplitMethod, reference: int, data: st.DataObject
) -> None:
    coding, segments = split_message(text, method, reference)
    order = data.draw(st.permutations(range(len(segments))))
    duplicates = data.draw(st.lists(st.sampled_from(order), max_size=5))
    arrivals = [incoming(segments[i], coding) for i in list(order) + duplicates]
    reassembler = Reassembler()
    done = feed(reassembler, arrivals)
    if len(segments) == 1:
        # Nothing identifies a repeated single-part message: each copy comes out.
        assert len(done) == 1 + len(duplicates)
    else:
        assert len(done) == 1
    message = done[0]
    assert message.text == text
    assert message.complete
    assert message.missing == ()
    assert message.parts == message.parts_received == len(segments)
    assert not message.lossy
    assert message.data_coding == coding
    assert reassembler.pending_count == 0


def test_single_part_completes_at_once_without_pending_state() -> None:
    reassembler = Reassembler()
    segment = Segment("111", "222", 0x00, 0x00, b"Hi", source_ton=5, origin="c1")
    message = reassembler.add(segment, 12.5)
    assert message == CompletedMessage(
        "111", "222", "c1", 0x00, "Hi", "gsm7", None, False, 1, 1, True, (), None, 12.5, 12.5, 5
    )
    assert reassembler.pending_count == 0


def test_message_payload_wins_over_short_message() -> None:
    segment = Segment("1", "2", 0x00, 0x00, b"ignored", message_payload=b"payload")
    message = Reassembler().add(segment, 0.0)
    assert message is not None
    assert message.text == "payload"


def test_two_senders_with_the_same_reference_never_mix() -> None:
    _, alice = split_message("A" * 200, "udh8", 5)
    _, bob = split_message("B" * 200, "udh8", 5)
    reassembler = Reassembler()
    arrivals = [
        incoming(alice[0], 0, source="alice"),
        incoming(bob[1], 0, source="bob"),
        incoming(alice[1], 0, source="alice"),
        incoming(bob[0], 0, source="bob"),
    ]
    done = feed(reassembler, arrivals)
    assert [(m.source, m.text) for m in done] == [("alice", "A" * 200), ("bob", "B" * 200)]


def test_two_connectors_never_mix() -> None:
    _, first = split_message("A" * 200, "udh8", 5)
    _, second = split_message("B" * 200, "udh8", 5)
    done = feed(
        Reassembler(),
        [
            incoming(first[0], 0, origin="smsc-a"),
            incoming(second[1], 0, origin="smsc-b"),
            incoming(second[0], 0, origin="smsc-b"),
            incoming(first[1], 0, origin="smsc-a"),
        ],
    )
    assert [(m.origin, m.text) for m in done] == [("smsc-b", "B" * 200), ("smsc-a", "A" * 200)]


def test_8_bit_16_bit_and_sar_references_never_mix() -> None:
    texts: dict[SplitMethod, str] = {"udh8": "E" * 200, "udh16": "S" * 200, "sar": "R" * 200}
    parts = {method: split_message(text, method, 5)[1] for method, text in texts.items()}
    reassembler = Reassembler()
    first_halves = [incoming(parts[m][0], 0) for m in texts]
    assert feed(reassembler, first_halves) == []
    assert reassembler.pending_count == 3
    done = feed(reassembler, [incoming(parts[m][1], 0) for m in texts])
    assert [m.text for m in done] == list(texts.values())


def test_incomplete_sets_expire_with_what_arrived() -> None:
    _, segments = split_message("".join(str(i % 10) for i in range(153 * 4)), "udh8", 3)
    reassembler = Reassembler(timeout=300.0)
    assert reassembler.add(incoming(segments[0], 0), 10.0) is None
    assert reassembler.add(incoming(segments[2], 0), 20.0) is None
    assert reassembler.expire(310.0) == []  # exactly the timeout: not yet
    expired = reassembler.expire(310.5)
    assert len(expired) == 1
    message = expired[0]
    assert not message.complete
    assert message.missing == (2, 4)
    assert message.parts == 4
    assert message.parts_received == 2
    assert (message.first_seen, message.last_seen) == (10.0, 20.0)
    assert message.reference == 3
    expected = segments[0].short_message[6:] + segments[2].short_message[6:]
    assert message.text == expected.decode("ascii")
    assert reassembler.pending_count == 0
    assert reassembler.expire(1000.0) == []


def test_expiry_only_releases_old_sets() -> None:
    reassembler = Reassembler(timeout=60.0)
    reassembler.add(udh8(1, 2, 1, b"old"), 0.0)
    reassembler.add(udh8(2, 2, 1, b"new"), 50.0)
    assert [m.text for m in reassembler.expire(61.0)] == ["old"]
    assert reassembler.pending_count == 1
    assert [m.text for m in reassembler.expire(111.0)] == ["new"]


def test_duplicate_part_keeps_the_first_copy() -> None:
    reassembler = Reassembler()
    assert reassembler.add(udh8(1, 2, 1, b"first "), 0.0) is None
    assert reassembler.add(udh8(1, 2, 1, b"other "), 1.0) is None
    message = reassembler.add(udh8(1, 2, 2, b"end"), 2.0)
    assert message is not None
    assert message.text == "first end"


def test_late_redelivery_after_completion_is_not_a_fragment() -> None:
    reassembler = Reassembler(timeout=60.0)
    feed(reassembler, [udh8(1, 2, 1, b"a"), udh8(1, 2, 2, b"b")])
    assert reassembler.add(udh8(1, 2, 2, b"b"), 5.0) is None
    assert reassembler.pending_count == 0  # not waiting for a phantom part 1
    assert reassembler.expire(1000.0) == []  # and nothing surfaces later


def test_reused_reference_with_an_identical_part_is_a_new_message() -> None:
    # A sender with a fixed reference sends two templated messages: part 1 is the
    # same, part 2 differs. Part 1 may be a redelivery of the first message's part 1,
    # so it completes nothing; it fills the second message's gap when its set times out
    # (more in test_concat_reuse.py).
    reassembler = Reassembler(timeout=60.0)
    first = feed(reassembler, [udh8(0, 2, 1, b"Your code: "), udh8(0, 2, 2, b"1234")], 1.0)
    assert feed(reassembler, [udh8(0, 2, 1, b"Your code: "), udh8(0, 2, 2, b"5678")], 9.0) == []
    assert reassembler.expire(69.0) == []
    second = reassembler.expire(69.5)
    assert [m.text for m in first + second] == ["Your code: 1234", "Your code: 5678"]
    assert second[0].complete


def test_reused_reference_with_new_parts_only() -> None:
    reassembler = Reassembler(timeout=60.0)
    feed(reassembler, [udh8(1, 2, 1, b"a"), udh8(1, 2, 2, b"b")])
    assert reassembler.add(udh8(1, 2, 1, b"c"), 6.0) is None
    message = reassembler.add(udh8(1, 2, 2, b"d"), 7.0)
    assert message is not None
    assert message.text == "cd"


def test_duplicate_window_ends() -> None:
    reassembler = Reassembler(timeout=60.0, duplicate_window=10.0)
    feed(reassembler, [udh8(1, 2, 1, b"a"), udh8(1, 2, 2, b"b")])
    assert reassembler.expire(11.0) == []
    assert reassembler.add(udh8(1, 2, 2, b"b"), 11.0) is None
    assert reassembler.pending_count == 1  # no longer recognised: a new set
    disabled = Reassembler(duplicate_window=0)
    feed(disabled, [udh8(1, 2, 1, b"a"), udh8(1, 2, 2, b"b")])
    disabled.add(udh8(1, 2, 2, b"b"), 0.0)
    assert disabled.pending_count == 1


@pytest.mark.parametrize(
    ("total", "number"), [(3, 0), (3, 4), (0, 0), (0, 1)], ids=["zero", "above", "empty", "total0"]
)
def test_invalid_concat_numbers_deliver_a_single_message(total: int, number: int) -> None:
    reassembler = Reassembler()
    message = reassembler.add(udh8(7, total, number, b"Hi"), 1.0)
    assert message is not None
    assert message.text == "Hi"
    assert message.complete
    assert message.parts == 1
    assert message.concat_error is not None
    assert reassembler.pending_count == 0


def test_one_part_concat_completes_immediately() -> None:
    message = Reassembler().add(udh8(7, 1, 1, b"Hi"), 1.0)
    assert message is not None
    assert (message.text, message.reference, message.concat_error) == ("Hi", 7, None)


def test_malformed_udh_delivers_the_raw_data_flagged() -> None:
    segment = Segment("1", "2", 0x40, 0x00, b"\x09\x00\x03ab")
    message = Reassembler().add(segment, 0.0)
    assert message is not None
    assert message.lossy
    assert message.concat_error is not None
    assert message.concat_error.startswith("malformed UDH")
    assert message.text.endswith("ab")


def test_udh_without_concat_ie_is_a_single_message() -> None:
    segment = Segment("1", "2", 0x40, 0x00, bytes.fromhex("0605040B8423F0") + b"Hi")
    message = Reassembler().add(segment, 0.0)
    assert message is not None
    assert (message.text, message.concat_error, message.reference) == ("Hi", None, None)


def test_incomplete_sar_tlvs_deliver_a_single_message() -> None:
    segment = Segment("1", "2", 0x00, 0x00, b"Hi", sar_msg_ref_num=4, sar_total_segments=2)
    message = Reassembler().add(segment, 0.0)
    assert message is not None
    assert message.text == "Hi"
    assert message.concat_error == "incomplete sar_* TLVs"


def test_data_sm_with_payload_and_sar() -> None:
    reassembler = Reassembler()
    parts = [
        Segment("1", "2", 0, 0x00, b"", b"Hello ", 300, 2, 1),
        Segment("1", "2", 0, 0x00, b"", b"world", 300, 2, 2),
    ]
    assert [m.text for m in feed(reassembler, reversed(parts))] == ["Hello world"]


def test_escape_split_across_parts_by_a_sender_is_repaired() -> None:
    done = feed(Reassembler(), [udh8(1, 2, 1, b"price 5\x1b"), udh8(1, 2, 2, b"e")])
    assert done[0].text == "price 5€"
    assert not done[0].lossy


def test_surrogate_split_across_parts_by_a_sender_is_repaired() -> None:
    encoded = "ok 😀".encode("utf-16-be")
    parts = [
        Segment("1", "2", 0x40, 0x08, bytes([5, 0, 3, 1, 2, 1]) + encoded[:8]),
        Segment("1", "2", 0x40, 0x08, bytes([5, 0, 3, 1, 2, 2]) + encoded[8:]),
    ]
    done = feed(Reassembler(), parts)
    assert done[0].text == "ok 😀"
    assert not done[0].lossy


def test_mixed_codings_between_parts_decode_part_by_part() -> None:
    parts = [
        Segment("1", "2", 0x40, 0x00, bytes([5, 0, 3, 1, 2, 1]) + b"Hi "),
        Segment("1", "2", 0x40, 0x08, bytes([5, 0, 3, 1, 2, 2]) + "Ж".encode("utf-16-be")),
    ]
    done = feed(Reassembler(), parts)
    assert done[0].text == "Hi Ж"
    assert done[0].data_coding == 0x00


def test_packed_gsm_with_udh_uses_fill_bits_per_part() -> None:
    text_parts = ["hello ", "world €"]
    segments = [
        Segment(
            "1",
            "2",
            0x40,
            0x00,
            bytes([5, 0, 3, 9, 2, number]) + pack_septets(gsm7_encode(text), fill_bits=1),
        )
        for number, text in enumerate(text_parts, start=1)
    ]
    done = feed(Reassembler(packed=True), reversed(segments))
    assert done[0].text == "hello world €"
    assert done[0].encoding == "gsm7-packed"


def test_binary_parts_are_joined() -> None:
    parts = [
        Segment("1", "2", 0x40, 0x04, bytes([5, 0, 3, 1, 2, 2]) + b"\x03\x04"),
        Segment("1", "2", 0x40, 0x04, bytes([5, 0, 3, 1, 2, 1]) + b"\x01\x02"),
    ]
    done = feed(Reassembler(), parts)
    assert (done[0].text, done[0].binary, done[0].encoding) == ("", b"\x01\x02\x03\x04", "binary")


def test_max_pending_evicts_the_oldest_into_expire() -> None:
    reassembler = Reassembler(max_pending=2)
    for reference in (1, 2, 3):
        reassembler.add(udh8(reference, 2, 1, b"r%d" % reference), float(reference))
    assert reassembler.pending_count == 2
    evicted = reassembler.expire(4.0)
    assert [(m.reference, m.text, m.complete) for m in evicted] == [(1, "r1", False)]
    assert reassembler.pending_count == 2


def test_max_parts_limits_the_total() -> None:
    message = Reassembler(max_parts=3).add(udh8(1, 4, 1, b"x"), 0.0)
    assert message is not None
    assert message.concat_error is not None


@pytest.mark.parametrize(("max_parts", "max_pending"), [(0, 10), (256, 10), (255, 0)])
def test_reassembler_rejects_bad_limits(max_parts: int, max_pending: int) -> None:
    with pytest.raises(LocalProtocolError):
        Reassembler(max_parts=max_parts, max_pending=max_pending)


def test_file_reports_the_set_key_and_duplicates() -> None:
    reassembler = Reassembler(timeout=60.0)
    single = reassembler.file(Segment("1", "2", 0, 0, b"Hi"), 0.0)
    assert (single.key, single.duplicate) == (None, False)
    assert single.message is not None
    assert single.message.key is None

    first = reassembler.file(udh8(4, 2, 1, b"a"), 1.0)
    assert first.message is None
    assert first.key == ("", "111", "222", 4, 2, "udh8", 1)  # the set's number last
    again = reassembler.file(udh8(4, 2, 1, b"a"), 2.0)
    assert (again.message, again.key, again.duplicate) == (None, first.key, True)
    last = reassembler.file(udh8(4, 2, 2, b"b"), 3.0)
    assert (last.key, last.duplicate) == (first.key, False)
    assert last.message is not None
    assert last.message.key == first.key
    late = reassembler.file(udh8(4, 2, 2, b"b"), 4.0)
    assert (late.message, late.key, late.duplicate) == (None, first.key, True)

    reassembler.file(udh8(5, 2, 1, b"x"), 5.0)
    (expired,) = reassembler.expire(100.0)
    assert expired.key == ("", "111", "222", 5, 2, "udh8", 2)
