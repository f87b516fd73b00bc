"""A reassembler told of a long message another one let out (Reassembler.recall)."""

from __future__ import annotations

from smslocker.smpp.concat import CompletedMessage, ConcatMark, Reassembler, Segment


def part(number: int, text: str, *, reference: int = 0x2A, total: int = 3) -> Segment:
    udh = bytes([0x05, 0x00, 0x03, reference, total, number])
    return Segment(
        source="447700900001",
        destination="447700900100",
        esm_class=0x40,
        data_coding=0,
        short_message=udh + text.encode("ascii"),
        origin="carrier-a",
    )


PIECES = ("Your code is ", "123456", ", valid 5 minutes")


def assemble(reassembler: Reassembler, pieces: tuple[str, ...] = PIECES) -> CompletedMessage:
    out = [
        reassembler.add(part(n, text, total=len(pieces)), 0.0) for n, text in enumerate(pieces, 1)
    ]
    assert out[:-1] == [None] * (len(pieces) - 1)
    message = out[-1]
    assert message is not None
    return message


def test_a_whole_long_message_carries_its_mark() -> None:
    message = assemble(Reassembler())
    assert message.mark is not None
    assert message.mark.reference == ("carrier-a", "447700900001", "447700900100", 0x2A, 3, "udh8")
    assert len(message.mark.fingerprints) == 3
    assert len(set(message.mark.fingerprints)) == 3  # one per part, each its own
    # The fingerprints are digests, not the parts.
    assert all(len(fingerprint) == 16 for fingerprint in message.mark.fingerprints)
    assert b"123456" not in b"".join(message.mark.fingerprints)


def test_neither_a_single_message_nor_a_fragment_has_a_mark() -> None:
    reassembler = Reassembler(timeout=10)
    single = reassembler.add(
        Segment("447700900001", "447700900100", 0, 0, b"hello", origin="carrier-a"), 0.0
    )
    assert single is not None
    assert single.mark is None
    assert reassembler.add(part(1, "only the first"), 0.0) is None
    [fragment] = reassembler.expire(11.0)
    assert not fragment.complete
    assert fragment.mark is None


def test_after_recall_a_redelivered_part_is_an_echo() -> None:
    mark = assemble(Reassembler()).mark
    assert mark is not None
    restarted = Reassembler()
    restarted.recall(mark, 0.0)
    for number, text in enumerate(PIECES, 1):
        filed = restarted.file(part(number, text), 1.0)
        assert filed.message is None
        assert filed.duplicate
        assert filed.key is not None
        assert filed.key[:6] == mark.reference
    assert restarted.pending_count == 0


def test_without_recall_the_same_part_waits_for_its_siblings() -> None:
    restarted = Reassembler()
    filed = restarted.file(part(3, PIECES[2]), 1.0)
    assert not filed.duplicate
    assert filed.message is None
    assert restarted.pending_count == 1


def test_a_new_message_reusing_the_reference_is_not_taken_for_the_recalled_one() -> None:
    mark = assemble(Reassembler()).mark
    assert mark is not None
    restarted = Reassembler()
    restarted.recall(mark, 0.0)
    new = ("Your code is ", "654321", ", valid 5 minutes")
    # Part 2 differs: a part of its own; parts 1 and 3 are echoes until the sender moves
    # on or the set times out, when they fill the gaps (the module's rules).
    assert not restarted.file(part(2, new[1]), 1.0).duplicate
    assert restarted.file(part(1, new[0]), 1.0).duplicate
    assert restarted.file(part(3, new[2]), 1.0).duplicate
    [message] = restarted.expire(400.0)
    assert message.text == "".join(new)
    assert message.complete


def test_recall_respects_the_duplicate_window() -> None:
    mark = assemble(Reassembler()).mark
    assert mark is not None
    none = Reassembler(duplicate_window=0)
    none.recall(mark, 0.0)
    assert not none.file(part(1, PIECES[0]), 1.0).duplicate
    short = Reassembler(duplicate_window=5)
    short.recall(mark, 0.0)
    short.expire(6.0)
    assert not short.file(part(1, PIECES[0]), 7.0).duplicate


def test_a_mark_is_a_value() -> None:
    first = assemble(Reassembler()).mark
    again = assemble(Reassembler()).mark
    assert first == again
    assert isinstance(first, ConcatMark)
