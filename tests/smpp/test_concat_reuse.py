"""Long messages whose sender reuses the concatenation reference (SMPP.md §8).

After a long message comes out, the same (sender, reference, total) may carry two kinds of
part that look alike: the SMSC redelivering a part of the old message (it missed our
deliver_sm_resp), and a new message that reuses the reference, whose part may even be
byte-identical to the old one's (a templated text from a sender with a fixed reference).
What these tests prove:

- a redelivered part of a completed message never seeds or joins a later message with the
  same reference, whatever the order of the new message's parts;
- a new message whose parts all differ from the old one's comes out the moment its last
  part arrives; one with a part identical to the old one's comes out whole, when its sender
  starts the next message with that reference, or at the latest when the set times out;
- a part identical to parts of two different old messages is never guessed: it is
  reported missing;
- every set has its own key: a redelivery names the message it repeats, and forget()
  forgets that message only;
- hypothesis: random part orders, duplicates and redeliveries interleaved with reference
  reuse give exactly the messages that were sent.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp.concat import CompletedMessage, Filed, Reassembler, Segment

SOURCE = "447700900123"
DESTINATION = "12345"
TIMEOUT = 60.0


def part(number: int, pieces: Sequence[bytes], reference: int = 7) -> Segment:
    """Part ``number`` (1-based) of the long message made of ``pieces``."""
    header = bytes([5, 0, 3, reference, len(pieces), number])
    return Segment(SOURCE, DESTINATION, 0x40, 0x00, header + pieces[number - 1], origin="smsc-a")


def parts(pieces: Sequence[bytes], reference: int = 7) -> list[Segment]:
    return [part(number, pieces, reference) for number in range(1, len(pieces) + 1)]


def text(pieces: Sequence[bytes]) -> str:
    return b"".join(pieces).decode("ascii")


class Run:
    """A reassembler fed the way the gateway feeds it: expire() after every segment."""

    def __init__(self, reassembler: Reassembler | None = None) -> None:
        self.reassembler = reassembler or Reassembler(timeout=TIMEOUT)
        self.out: list[CompletedMessage] = []
        self.now = 0.0

    def feed(self, *segments: Segment, step: float = 1.0) -> Filed:
        filed = Filed(None, None)
        for segment in segments:
            self.now += step
            filed = self.reassembler.file(segment, self.now)
            if filed.message is not None:
                self.out.append(filed.message)
            self.expire(self.now)
        return filed

    def expire(self, now: float) -> list[CompletedMessage]:
        released = self.reassembler.expire(now)
        self.out.extend(released)
        return released

    def flush(self) -> None:
        """Let every waiting set time out."""
        self.expire(self.now + 10 * TIMEOUT)

    @property
    def texts(self) -> list[str]:
        return [message.text for message in self.out]


OLD = [b"OLD code 111111 ", b"old middle ", b"old tail"]
NEW = [b"NEW code 222222 ", b"new middle ", b"new tail"]
ORDERS = [(1, 2, 3), (3, 2, 1), (2, 3, 1), (3, 1, 2)]


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("redelivered", [1, 2, 3])
def test_a_redelivered_old_part_never_joins_the_new_message(
    order: tuple[int, ...], redelivered: int
) -> None:
    run = Run()
    run.feed(*parts(OLD))
    assert run.texts == [text(OLD)]
    run.feed(part(redelivered, OLD))  # our deliver_sm_resp was lost: the SMSC sends it again
    new = parts(NEW)
    run.feed(*(new[number - 1] for number in order))
    assert run.texts == [text(OLD), text(NEW)]  # on the spot, not at a timeout
    assert run.out[1].complete
    run.flush()
    assert run.texts == [text(OLD), text(NEW)]  # and no fragment later
    assert run.reassembler.pending_count == 0


@pytest.mark.parametrize("order", ORDERS)
def test_redeliveries_in_the_middle_of_the_new_message_never_join_it(
    order: tuple[int, ...],
) -> None:
    run = Run()
    run.feed(*parts(OLD))
    new = parts(NEW)
    run.feed(new[order[0] - 1])
    run.feed(*parts(OLD))  # every old part again, while the new message is pending
    run.feed(*(new[number - 1] for number in order[1:]))
    run.feed(*parts(OLD))
    run.flush()
    assert run.texts == [text(OLD), text(NEW)]


def test_a_whole_redelivery_seeds_nothing() -> None:
    run = Run()
    run.feed(*parts(OLD))
    run.feed(*reversed(parts(OLD)))
    assert run.reassembler.pending_count == 0
    run.flush()
    assert run.texts == [text(OLD)]


TEMPLATE = b"Your code for the bank app, valid 5 minutes: "


@pytest.mark.parametrize("template_first", [True, False])
def test_a_new_message_with_an_identical_part_comes_out_whole_at_the_timeout(
    template_first: bool,
) -> None:
    # A sender with a fixed reference sends two templated messages: part 1 is the same.
    first = [TEMPLATE, b"111111"]
    second = [TEMPLATE, b"222222"]
    run = Run()
    run.feed(*parts(first))
    arrivals = parts(second) if template_first else parts(second)[::-1]
    run.feed(*arrivals)
    # Its part 1 may as well be the SMSC repeating the old part 1: nothing completes on it.
    assert run.texts == [text(first)]
    assert run.reassembler.pending_count == 1
    started = run.now if template_first else run.now - 1
    assert run.expire(started + TIMEOUT) == []
    (message,) = run.expire(started + TIMEOUT + 1)
    assert (message.text, message.complete, message.missing) == (text(second), True, ())
    assert message.parts_received == 2


def test_its_own_part_replaces_an_echo_of_the_old_one() -> None:
    first = [TEMPLATE, b"111111"]
    second = [b"Another text: ", b"222222"]
    run = Run()
    run.feed(*parts(first))
    run.feed(part(1, first), part(2, second))  # part 1: a redelivery, as it turns out
    assert run.texts == [text(first)]
    run.feed(part(1, second))
    assert run.texts == [text(first), text(second)]


def test_the_next_message_with_the_reference_releases_the_waiting_one() -> None:
    messages = [[TEMPLATE, code] for code in (b"111111", b"222222", b"333333")]
    run = Run()
    run.feed(*parts(messages[0]))
    run.feed(*parts(messages[1]))
    assert run.texts == [text(messages[0])]
    # Its sender has moved on: message 2 had sent all it would, its part 1 was the template.
    run.feed(part(1, messages[2]), part(2, messages[2]))
    assert run.texts == [text(messages[0]), text(messages[1])]
    assert run.out[1].complete
    run.flush()
    assert run.texts == [text(message) for message in messages]
    assert all(message.complete for message in run.out)


def test_a_differing_part_before_the_set_could_be_whole_is_a_duplicate() -> None:
    run = Run()
    run.feed(*parts([b"a", b"b", b"c"]))
    run.feed(part(1, [b"x", b"y", b"z"]))
    # Part 2 never came in any form: the sender cannot have moved on; first copy kept.
    filed = run.feed(part(1, [b"q", b"y", b"z"]))
    assert filed.duplicate
    run.feed(part(2, [b"x", b"y", b"z"]), part(3, [b"x", b"y", b"z"]))
    assert run.texts == ["abc", "xyz"]


def test_echoes_of_two_different_old_messages_are_never_guessed_between() -> None:
    run = Run()
    run.feed(*parts([b"A1", b"A2"]), *parts([b"B1", b"B2"]))
    run.feed(part(1, [b"A1", b"A2"]), part(1, [b"B1", b"B2"]), part(2, [b"C1", b"C2"]))
    run.flush()
    assert run.texts == ["A1A2", "B1B2", "C2"]
    last = run.out[2]
    assert (last.complete, last.missing, last.parts_received) == (False, (1,), 1)


def test_eviction_releases_a_waiting_set_whole() -> None:
    run = Run(Reassembler(timeout=TIMEOUT, max_pending=1))
    first = [TEMPLATE, b"111111"]
    second = [TEMPLATE, b"222222"]
    run.feed(*parts(first), *parts(second))
    run.feed(part(1, [b"other ", b"reference"], reference=8))
    assert run.texts == [text(first), text(second)]
    assert run.out[1].complete


def test_an_echo_still_fills_when_the_duplicate_window_is_shorter_than_the_timeout() -> None:
    run = Run(Reassembler(timeout=TIMEOUT, duplicate_window=5.0))
    first = [TEMPLATE, b"111111"]
    second = [TEMPLATE, b"222222"]
    run.feed(*parts(first))
    run.feed(part(1, second), step=3.0)
    run.feed(part(2, second), step=4.0)
    run.expire(run.now + TIMEOUT / 2)  # the old message is out of the window by now
    run.flush()
    assert run.texts == [text(first), text(second)]
    assert run.out[1].complete


def test_after_the_duplicate_window_an_identical_part_is_simply_new() -> None:
    run = Run(Reassembler(timeout=TIMEOUT, duplicate_window=10.0))
    first = [TEMPLATE, b"111111"]
    second = [TEMPLATE, b"222222"]
    run.feed(*parts(first))
    run.expire(run.now + 11.0)
    run.now += 11.0
    run.feed(*parts(second))
    assert run.texts == [text(first), text(second)]


def test_every_set_has_its_own_key_and_a_redelivery_names_its_message() -> None:
    reassembler = Reassembler(timeout=TIMEOUT)
    old, new = parts([b"a", b"b"]), parts([b"c", b"d"])
    reassembler.file(old[0], 1.0)
    done = reassembler.file(old[1], 2.0)
    assert done.message is not None
    old_key = done.key
    assert old_key is not None
    assert done.message.key == old_key
    assert old_key[:6] == ("smsc-a", SOURCE, DESTINATION, 7, 2, "udh8")
    assert reassembler.file(old[1], 3.0) == Filed(None, old_key, duplicate=True)
    started = reassembler.file(new[0], 4.0)
    new_key = started.key
    assert new_key is not None
    assert new_key != old_key
    assert new_key[:6] == old_key[:6]
    # A redelivery while a new set is pending might be that set's part: named after it,
    # so that a caller holds its ack until that set is safe.
    assert reassembler.file(old[1], 5.0) == Filed(None, new_key, duplicate=True)
    finished = reassembler.file(new[1], 6.0)
    assert finished.message is not None
    assert finished.message.text == "cd"
    assert finished.key == finished.message.key == new_key
    assert reassembler.file(old[0], 7.0) == Filed(None, old_key, duplicate=True)
    assert reassembler.file(new[0], 8.0) == Filed(None, new_key, duplicate=True)


def test_forget_forgets_that_message_only() -> None:
    run = Run()
    old, new = [b"a", b"b"], [b"c", b"d"]
    run.feed(*parts(old))
    filed = run.feed(*parts(new))
    assert filed.key is not None
    run.reassembler.forget(filed.key)  # the sink could not store it: the SMSC redelivers
    assert run.feed(part(1, old)).duplicate
    remade = run.feed(*parts(new))
    assert run.texts == ["ab", "cd", "cd"]
    assert remade.key not in (None, filed.key)
    assert run.feed(part(2, old)).duplicate
    assert run.feed(part(2, new)).duplicate


# --------------------------------------------------------------------- properties

PIECES = [b"aa", b"bb", b"cc"]  # few, so that parts of different messages often match


@st.composite
def arrivals_of(draw: st.DrawFn, message: list[Segment], earlier: list[Segment]) -> list[Segment]:
    """``message``'s parts in any order, with redeliveries of ``earlier`` parts and
    duplicates of its own parts already delivered, anywhere in between."""
    order = draw(st.permutations(message))
    extras = draw(
        st.lists(
            st.tuples(st.integers(0, len(order)), st.booleans(), st.integers(0, 100)),
            max_size=6,
        )
    )
    arrivals: list[Segment] = []
    for position, segment in enumerate([*order, None]):
        for at, own, choice in extras:
            if at != position:
                continue
            if own and position > 0:
                arrivals.append(order[choice % position])
            elif earlier:
                arrivals.append(earlier[choice % len(earlier)])
        if segment is not None:
            arrivals.append(segment)
    return arrivals


@given(
    total=st.integers(2, 4),
    old=st.lists(st.sampled_from(PIECES), min_size=4, max_size=4),
    new=st.lists(st.sampled_from(PIECES), min_size=4, max_size=4),
    data=st.data(),
)
def test_reuse_with_redeliveries_in_any_order_gives_exactly_the_sent_messages(
    total: int, old: list[bytes], new: list[bytes], data: st.DataObject
) -> None:
    old, new = old[:total], new[:total]
    old_parts, new_parts = parts(old), parts(new)
    run = Run()
    run.feed(*data.draw(arrivals_of(old_parts, [])))
    assert run.texts == [text(old)]
    run.feed(*data.draw(arrivals_of(new_parts, old_parts)))
    differs = [a != b for a, b in zip(old, new, strict=True)]
    if all(differs):
        assert run.texts == [text(old), text(new)]  # on the spot
    run.flush()
    if any(differs):
        assert run.texts == [text(old), text(new)]
    else:
        # Byte for byte the old message again: indistinguishable from its redelivery.
        assert run.texts == [text(old)]
    assert all(message.complete for message in run.out)
    assert run.reassembler.pending_count == 0


@given(
    total=st.integers(2, 4),
    count=st.integers(2, 4),
    data=st.data(),
)
def test_a_templated_sender_with_a_fixed_reference_loses_nothing_and_glues_nothing(
    total: int, count: int, data: st.DataObject
) -> None:
    # Slots in `template` carry the same text in every message, the others a text of
    # their own; earlier messages are redelivered at random while later ones arrive.
    template = data.draw(st.sets(st.integers(1, total), max_size=total - 1))
    messages = [
        [b"TT" if slot in template else b"%d%d" % (index, slot) for slot in range(1, total + 1)]
        for index in range(count)
    ]
    run = Run()
    delivered: list[Segment] = []
    for message in messages:
        segments = parts(message)
        run.feed(*data.draw(arrivals_of(segments, delivered)))
        delivered.extend(segments)
    run.feed(*data.draw(st.lists(st.sampled_from(delivered), max_size=4)))
    run.flush()
    assert run.texts == [text(message) for message in messages]
    assert all(message.complete for message in run.out)
