"""Splitting a byte stream into PDUs, fed whole, byte by byte, in random splits (STYLE habit 5)."""

from __future__ import annotations

import itertools

import factory
import pytest
import strategies as sst
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp.codec import encode
from smslocker.smpp.errors import FramingError
from smslocker.smpp.framing import DEFAULT_MAX_PDU_LENGTH, PduBuffer, RawPdu
from smslocker.smpp.pdu import EnquireLink, Tlv

streams = st.lists(sst.encoded_pdus, max_size=8)


def expected(pdus: list[bytes]) -> list[RawPdu]:
    """What each PDU should come out as, read straight from its header."""
    return [
        (
            int.from_bytes(pdu[4:8], "big"),
            int.from_bytes(pdu[8:12], "big"),
            int.from_bytes(pdu[12:16], "big"),
            pdu[16:],
        )
        for pdu in pdus
    ]


def feed_in_chunks(buffer: PduBuffer, chunks: list[bytes]) -> list[RawPdu]:
    out: list[RawPdu] = []
    for chunk in chunks:
        out.extend(buffer.feed(chunk))
    return out


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[start:end] for start, end in itertools.pairwise(points)]


@given(streams)
def test_fed_whole(pdus: list[bytes]) -> None:
    buffer = PduBuffer()
    assert buffer.feed(b"".join(pdus)) == expected(pdus)
    assert len(buffer) == 0


@given(streams)
def test_fed_one_byte_at_a_time(pdus: list[bytes]) -> None:
    data = b"".join(pdus)
    buffer = PduBuffer()
    out: list[RawPdu] = []
    for index in range(len(data)):
        out.extend(buffer.feed(data[index : index + 1]))
        assert len(buffer) + sum(16 + len(body) for *_, body in out) == index + 1
    assert out == expected(pdus)
    assert len(buffer) == 0


@given(streams, st.lists(st.integers(min_value=0), max_size=20))
def test_fed_in_random_splits(pdus: list[bytes], cuts: list[int]) -> None:
    data = b"".join(pdus)
    assert feed_in_chunks(PduBuffer(), split_at(data, cuts)) == expected(pdus)


@given(streams, sst.encoded_pdus, st.data())
def test_trailing_partial_pdu_is_kept_for_the_next_read(
    pdus: list[bytes], last: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(last) - 1))
    buffer = PduBuffer()
    assert buffer.feed(b"".join(pdus) + last[:cut]) == expected(pdus)
    assert len(buffer) == cut
    assert buffer.feed(last[cut:]) == expected([last])
    assert len(buffer) == 0


@given(streams)
def test_bytearray_and_memoryview_input(pdus: list[bytes]) -> None:
    data = b"".join(pdus)
    assert PduBuffer().feed(bytearray(data)) == expected(pdus)
    assert PduBuffer().feed(memoryview(data)) == expected(pdus)
    for _, _, _, body in PduBuffer().feed(bytearray(data)):
        assert type(body) is bytes


@given(streams, st.lists(st.integers(min_value=0), max_size=20))
def test_split_gives_each_pdu_in_place(pdus: list[bytes], cuts: list[int]) -> None:
    # split() is what feed() is made of, minus the copy of each body: the PDUs lie end to
    # end in the view, each where the lengths before it say, whatever the reads were.
    buffer = PduBuffer()
    out: list[RawPdu] = []
    for chunk in split_at(b"".join(pdus), cuts):
        view, headers = buffer.split(chunk)
        assert type(view) is bytes
        position = 0
        for length, command_id, status, sequence in headers:
            assert view[position : position + 16] == b"".join(
                n.to_bytes(4, "big") for n in (length, command_id, status, sequence)
            )
            out.append((command_id, status, sequence, view[position + 16 : position + length]))
            position += length
        assert position <= len(view)
    assert out == expected(pdus)
    assert len(buffer) == 0


def test_split_returns_nothing_until_a_pdu_is_whole() -> None:
    # The early return for a buffer without a whole PDU: what keeps small reads of a big
    # PDU linear (the buffer is only copied out once the PDU is complete).
    wire = encode(EnquireLink(sequence_number=3)) + bytes(65_000)
    wire = len(wire).to_bytes(4, "big") + wire[4:]
    pieces = [wire[index : index + 1000] for index in range(0, len(wire), 1000)]
    buffer = PduBuffer()
    for piece in pieces[:-1]:
        assert buffer.split(piece)[1] == []
    assert buffer.split(pieces[-1]) == (wire, [(len(wire), 0x15, 0, 3)])
    assert len(buffer) == 0


def test_empty_feed_gives_nothing() -> None:
    buffer = PduBuffer()
    assert buffer.feed(b"") == []
    wire = encode(EnquireLink(sequence_number=3))
    assert buffer.feed(wire[:5]) == []
    assert buffer.feed(b"") == []
    assert buffer.feed(wire[5:]) == [(0x15, 0, 3, b"")]


def test_returned_bodies_do_not_change_when_the_buffer_does() -> None:
    buffer = PduBuffer()
    first = factory.wire(factory.deliver_sm("one", sequence_number=1))
    second = factory.wire(factory.deliver_sm("two", sequence_number=2))
    out = buffer.feed(first[:-1])
    out += buffer.feed(first[-1:] + second[:20])
    out += buffer.feed(second[20:])
    assert [body for *_, body in out] == [first[16:], second[16:]]


# -- framing errors ------------------------------------------------------------------------

BAD_LENGTHS = [0, 1, 15, DEFAULT_MAX_PDU_LENGTH + 1, 0xFFFFFFFF]


def bad_header(length: int, sequence: int = 7) -> bytes:
    return length.to_bytes(4, "big") + bytes.fromhex("00000015 00000000") + sequence.to_bytes(4)


@pytest.mark.parametrize("length", BAD_LENGTHS)
@pytest.mark.parametrize("split", ["whole", "byte by byte", "length only"])
def test_bad_command_length_breaks_the_buffer(length: int, split: str) -> None:
    data = bad_header(length)
    chunks = {
        "whole": [data],
        "byte by byte": [data[i : i + 1] for i in range(len(data))],
        "length only": [data[:4]],
    }[split]
    buffer = PduBuffer()
    with pytest.raises(FramingError) as caught:
        feed_in_chunks(buffer, chunks)
    assert caught.value.status == 0x02
    # Broken for good: even a valid PDU is refused now.
    with pytest.raises(FramingError):
        buffer.feed(encode(EnquireLink(sequence_number=1)))
    with pytest.raises(FramingError):
        buffer.feed(b"")


@pytest.mark.parametrize("length", BAD_LENGTHS)
@given(cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_framing_error_is_the_same_however_the_bytes_arrive(length: int, cuts: list[int]) -> None:
    # The sequence number to nack with must not depend on TCP segmentation.
    reference = PduBuffer()
    with pytest.raises(FramingError) as whole:
        reference.feed(bad_header(length))
    buffer = PduBuffer()
    with pytest.raises(FramingError) as split:
        feed_in_chunks(buffer, split_at(bad_header(length), cuts))
    assert split.value.sequence_number == whole.value.sequence_number
    assert split.value.status == whole.value.status


@given(streams, st.sampled_from(BAD_LENGTHS), st.lists(st.integers(min_value=0), max_size=8))
def test_pdus_before_a_bad_header_are_delivered_however_the_bytes_arrive(
    pdus: list[bytes], length: int, cuts: list[int]
) -> None:
    # A valid PDU that arrived before the garbage (an unbind, a deliver_sm) must not be lost
    # just because the garbage came in the same read.
    data = b"".join(pdus) + bad_header(length)
    buffer = PduBuffer()
    out: list[RawPdu] = []

    def feed_until_the_error() -> None:
        for chunk in [*split_at(data, cuts), b""]:
            out.extend(buffer.feed(chunk))

    with pytest.raises(FramingError):
        feed_until_the_error()
    assert out == expected(pdus)
    assert buffer.broken is not None
    with pytest.raises(FramingError):
        buffer.feed(b"")


def test_a_healthy_buffer_is_not_broken() -> None:
    buffer = PduBuffer()
    buffer.feed(encode(EnquireLink(sequence_number=1)))
    assert buffer.broken is None


@pytest.mark.parametrize("cap", [16, 17, 100, 4096])
def test_cap_is_configurable(cap: int) -> None:
    buffer = PduBuffer(max_pdu_length=cap)
    assert buffer.max_pdu_length == cap
    at_cap = EnquireLink(
        sequence_number=1, tlvs=(Tlv(0x1400, b"x" * (cap - 20)),) if cap > 20 else ()
    )
    wire = encode(at_cap)
    if len(wire) <= cap:
        assert buffer.feed(wire) == expected([wire])
    over = encode(EnquireLink(sequence_number=2, tlvs=(Tlv(0x1400, b"x" * max(0, cap - 19)),)))
    assert len(over) > cap
    with pytest.raises(FramingError):
        buffer.feed(over)


def test_default_cap_takes_a_64k_message_payload() -> None:
    pdu = factory.data_sm(payload=b"x" * 65535)
    wire = encode(pdu)
    assert PduBuffer().feed(wire) == expected([wire])
    with pytest.raises(FramingError):
        PduBuffer(max_pdu_length=len(wire) - 1).feed(wire)


def test_cap_below_a_header_is_refused() -> None:
    with pytest.raises(ValueError, match="16"):
        PduBuffer(max_pdu_length=15)
