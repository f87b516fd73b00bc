"""Concatenated (long) messages: reassembly (SMPP.md §8).

The UDH parser and :func:`split_message` live in :mod:`smslocker.smpp.udh` and
are re-exported here, so ``smslocker.smpp.concat`` is the one import for long
messages.

Theory of operation. :class:`Reassembler` is fed one :class:`Segment` per
received deliver_sm/data_sm together with the caller's monotonic ``now``. A
segment without a UDH and without sar_* TLVs (nearly all traffic) is decoded
and returned at once, touching no dictionary. A part of a long message is
filed under (origin, source, destination, reference, total, reference kind),
so two connectors, two senders, or an 8-bit, a 16-bit and a SAR reference with
the same number never mix; the message comes out when its last part arrives.
:meth:`Reassembler.expire` releases sets that waited longer than ``timeout``
with whatever arrived. Sets are kept in a dict in arrival order of their first
part, which with a non-decreasing ``now`` is also the order they expire in, so
expiry only looks at the sets it releases.

The parts' raw user data are joined in order and decoded once, not part by
part: some senders split a UCS2 surrogate pair or a GSM escape pair across
two parts (§7.2 says they shouldn't), and joining first repairs that. Packed
GSM is unpacked per part first, because each part has its own fill bits.

Reference reuse. A sender may reuse a reference once a message is out (an 8-bit
reference wraps after 256 messages; some senders always send the same one), so
each set gets a number of its own in its :data:`ReassemblyKey`. After a message
came out, a part with its (origin, source, destination, reference, total, kind)
is one of three things: the SMSC redelivering a part of it (it missed our
deliver_sm_resp), a part of a new message that differs from the old part with
that number, or a part of a new message byte-identical to the old one's (a
templated text). Nothing in the PDU tells the first from the third: both are
*echoes*. What can be told: a new message whose part differs from the old one
sends that part, which then arrives as a part of its own. Hence the rules, which
never glue an old part into a new message and never lose a part a new message
may need:

1. An echo never starts a set and never completes one. Completing a new message
   on an echo gave it the old message's text whenever the echo was in fact a
   redelivery. A message made of echoes only is taken for a redelivery of what
   already came out (an identical resend cannot be told from one): nothing new.
2. A set comes out on the spot when its own parts cover every part number.
3. An echo is remembered, and fills a number a set lacks only when the set must
   come out without its own part there: at its timeout, when evicted, or when
   its sender has moved on to the next message with the reference (a part that
   differs from one the set holds arrives while every number the set lacks has
   an echo: the set's own part there can only have been the echo). Echoes with
   different contents for one number (two old messages differed there) are not
   guessed between: the number stays missing.

The price: a new message with a part identical to the old one's comes out when
its sender moves on or its set times out, not when its last part arrives. The
limits, where nothing can tell: at the timeout an echo fills a gap even if the
set's own, differing part is merely later still; "moved on" assumes a sender
sends a message's parts before the next one's with the same reference; and a new
message's part for a number a waiting set lacks is taken for that set's own part.
"""

from __future__ import annotations

from dataclasses import dataclass
from hashlib import blake2b

from smslocker.smpp.errors import DecodeError, LocalProtocolError
from smslocker.smpp.text import DecodedText, coding_name, decode_text, unpack_text_septets
from smslocker.smpp.udh import (
    IEI_CONCAT_8,
    IEI_CONCAT_16,
    UDHI,
    ConcatInfo,
    InformationElement,
    SegmentOut,
    SplitMethod,
    find_concat,
    split_message,
    split_udh,
)

__all__ = [
    "IEI_CONCAT_8",
    "IEI_CONCAT_16",
    "UDHI",
    "CompletedMessage",
    "ConcatInfo",
    "ConcatMark",
    "Filed",
    "InformationElement",
    "Reassembler",
    "ReassemblyKey",
    "Segment",
    "SegmentOut",
    "SplitMethod",
    "find_concat",
    "split_message",
    "split_udh",
]


@dataclass(frozen=True, slots=True)
class Segment:
    """The user data of one received deliver_sm or data_sm, PDU-class free.

    The user data is ``message_payload`` when present, else ``short_message``;
    it starts with a UDH when ``esm_class & 0x40``. ``origin`` names the
    connector/session so two connectors never mix.
    """

    source: str
    destination: str
    esm_class: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None = None
    sar_msg_ref_num: int | None = None
    sar_total_segments: int | None = None
    sar_segment_seqnum: int | None = None
    source_ton: int = 0
    destination_ton: int = 0
    origin: str = ""


# (origin, source, destination, reference, total, "udh8" | "udh16" | "sar"): what
# every part of one long message shares, and a later message reusing the reference too.
_Reference = tuple[str, str, str, int, int, str]
# A _Reference plus the set's own number, counted per Reassembler: a sender that reuses
# a reference starts a second set, and a caller that holds deliver_sm_resp per set (or
# forgets one whose sink failed) must never confuse it with the first.
ReassemblyKey = tuple[str, str, str, int, int, str, int]

# How many messages of one reference (the newest) have their redeliveries recognised.
_REMEMBERED_PER_REFERENCE = 16
# Bytes of a part's fingerprint (see ConcatMark).
_FINGERPRINT_BYTES = 16


@dataclass(frozen=True, slots=True)
class ConcatMark:
    """What tells a redelivered part of a long message that came out whole.

    ``reference`` is what its parts share (origin, source, destination, reference,
    total, kind); ``fingerprints`` has one digest per part number, in order (16 bytes of
    BLAKE2b over the part's data coding and user data: the parts themselves are not
    kept). A sink that stores the message keeps its mark, and a reassembler in another
    process (a gateway restarted after a crash) is told of it by :meth:`Reassembler.recall`:
    then a part whose acknowledgement the crash lost is an echo there too, acknowledged
    at once, instead of a one-part set waiting for siblings that will never come again.
    """

    reference: tuple[str, str, str, int, int, str]
    fingerprints: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class CompletedMessage:
    """A whole message, or what arrived of one before it timed out.

    ``parts`` is the number of parts expected, ``missing`` the part numbers that
    never came (``complete`` is False then). ``concat_error`` is set when the
    segment carried concatenation data we could not use (malformed UDH, part
    number 0 or above the total, incomplete sar_* TLVs): the segment was then
    delivered as a single message. ``key`` names the set a long message was
    assembled in (None for a single message), as :class:`Filed` reported it;
    ``mark`` is set on a long message that came out whole (:class:`ConcatMark`).
    """

    source: str
    destination: str
    origin: str
    data_coding: int
    text: str
    encoding: str
    binary: bytes | None
    lossy: bool
    parts: int
    parts_received: int
    complete: bool
    missing: tuple[int, ...]
    reference: int | None
    first_seen: float
    last_seen: float
    source_ton: int = 0
    destination_ton: int = 0
    concat_error: str | None = None
    key: ReassemblyKey | None = None
    mark: ConcatMark | None = None


@dataclass(frozen=True, slots=True)
class Filed:
    """What :meth:`Reassembler.file` did with a segment.

    ``message`` is the message the segment completed (or was), else None.
    ``key`` names the set the segment belongs to, None for a single message; a
    caller that holds back deliver_sm_resp until a message is stored keys the
    held PDUs by it. ``duplicate`` says the segment repeated a part already held
    or already passed on, and was not used; ``key`` is then the set it repeats,
    except that a repeat of a part passed on (an echo, see the module doc) names
    the set pending with the same reference, if there is one, as it may be that
    set's own part and must not be acked before that set is stored.
    """

    message: CompletedMessage | None
    key: ReassemblyKey | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class _Part:
    data_coding: int
    user_data: bytes  # UDH removed; packed GSM already unpacked to septets


@dataclass(slots=True)
class _PendingSet:
    key: ReassemblyKey
    first: Segment
    reference: int
    total: int
    first_seen: float
    last_seen: float
    parts: dict[int, _Part]
    last_arrival: int  # the Reassembler's arrival count when its latest new part came


@dataclass(slots=True)
class _Recent:
    """Messages of one reference that came out whole, and the echoes of their parts."""

    touched: float  # the latest message out, or the latest echo
    # Oldest first; each part as its fingerprint (_fingerprint): all an echo is told by.
    done: list[tuple[ReassemblyKey, dict[int, bytes]]]
    # (part number, part) -> arrival count of its latest echo; only echoes that may yet
    # fill a gap: those that came after the last part of the last set out.
    echoes: dict[tuple[int, _Part], int]


class Reassembler:
    """Reassembles long messages from UDH or SAR segments (§8); see the module doc.

    Duplicates of a part number are ignored and the first copy kept: a
    redelivered part (the SMSC missed our deliver_sm_resp) is the same data. For
    ``duplicate_window`` seconds after a message completes (default: ``timeout``;
    longer while a set with the same reference is pending) a part identical to one
    of its parts is an echo (module doc): never a set of its own, so a late
    redelivery doesn't surface as a one-part fragment, and never a part that
    completes a new message reusing the reference. ``packed`` says GSM 7-bit user
    data on this connector is packed (§7.1). When ``max_pending`` sets are
    waiting, the oldest is evicted and comes out of the next :meth:`expire`.
    """

    def __init__(
        self,
        timeout: float = 300.0,
        max_parts: int = 255,
        max_pending: int = 100_000,
        *,
        packed: bool = False,
        duplicate_window: float | None = None,
    ) -> None:
        if not 1 <= max_parts <= 255:
            raise LocalProtocolError("max_parts must be 1-255")
        if max_pending < 1:
            raise LocalProtocolError("max_pending must be at least 1")
        self._timeout = timeout
        self._max_parts = max_parts
        self._max_pending = max_pending
        self._packed = packed
        self._duplicate_window = timeout if duplicate_window is None else duplicate_window
        self._pending: dict[_Reference, _PendingSet] = {}
        self._recent: dict[_Reference, _Recent] = {}
        self._evicted: list[CompletedMessage] = []
        self._sets = 0  # numbers the sets, for their keys
        self._arrivals = 0  # counts the parts filed, to order echoes against sets

    @property
    def pending_count(self) -> int:
        """Number of incomplete messages waiting for parts."""
        return len(self._pending)

    def add(self, segment: Segment, now: float) -> CompletedMessage | None:
        """File one segment; return the message it completes, else None."""
        return self.file(segment, now).message

    def file(self, segment: Segment, now: float) -> Filed:
        """File one segment and say what became of it (see :class:`Filed`).

        Never raises on peer data: unusable concatenation data turns the segment
        into a single message with ``concat_error`` set.
        """
        user_data = segment.short_message
        if segment.message_payload is not None:
            user_data = segment.message_payload
        has_udh = segment.esm_class & UDHI
        if (
            not has_udh
            and segment.sar_msg_ref_num is None
            and segment.sar_total_segments is None
            and segment.sar_segment_seqnum is None
        ):
            decoded = decode_text(user_data, segment.data_coding, packed=self._packed)
            return Filed(self._single(segment, decoded, now, None, None), None)

        concat: ConcatInfo | None = None
        kind = "sar"
        error: str | None = None
        if has_udh:
            try:
                elements, text_data = split_udh(user_data)
            except DecodeError as exc:
                # Delivering the raw octets beats losing the message (an OTP, say).
                decoded = self._decode([self._part(segment, user_data, 0)])
                error = f"malformed UDH: {exc}"
                return Filed(self._single(segment, decoded, now, None, error, True), None)
            # §7.1: after a UDH, packed text starts on the next septet boundary.
            fill_bits = (7 - (len(user_data) - len(text_data)) * 8 % 7) % 7
            part = self._part(segment, text_data, fill_bits)
            concat = find_concat(elements)
            if concat is not None:
                kind = f"udh{concat.reference_bits}"
        else:
            part = self._part(segment, user_data, 0)
        if concat is None:
            concat, error = _sar_concat(segment)
        if concat is None or error is not None:
            return Filed(self._single(segment, self._decode([part]), now, None, error), None)
        if not concat.is_valid:
            error = f"invalid part number {concat.seqnum} of {concat.total}"
        elif concat.total > self._max_parts:
            error = f"{concat.total} parts exceed the limit of {self._max_parts}"
        if error is not None or concat.total == 1:
            message = self._single(segment, self._decode([part]), now, concat.reference, error)
            return Filed(message, None)
        reference = (
            segment.origin,
            segment.source,
            segment.destination,
            concat.reference,
            concat.total,
            kind,
        )
        return self._add_part(reference, segment, concat, part, now)

    def forget(self, key: ReassemblyKey) -> None:
        """Forget a completed message, so its parts are accepted afresh.

        For a caller whose sink could not store the message: the SMSC redelivers
        every part (none was acked), and they must make the message again rather
        than be taken for duplicates of one that was never kept. Other messages
        with the same reference are still recognised.
        """
        recent = self._recent.get(key[:6])
        if recent is not None:
            recent.done = [item for item in recent.done if item[0] != key]

    def recall(self, mark: ConcatMark, now: float) -> None:
        """Remember a long message another reassembler let out (and a sink stored), as if
        it had come out here at ``now``: its parts are echoes from now on (module doc).

        For a gateway that starts again after a crash: the SMSC redelivers the parts
        whose acknowledgement was lost, and without this a lone part would wait in a set
        of its own until the timeout, and then come out as a fragment.
        """
        if self._duplicate_window <= 0:
            return
        self._sets += 1
        key = (*mark.reference, self._sets)
        self._remember(mark.reference, key, dict(enumerate(mark.fingerprints, 1)), now)

    def expire(self, now: float) -> list[CompletedMessage]:
        """Release sets whose first part is older than ``timeout``, plus any set evicted
        because ``max_pending`` was reached or released because its sender moved on
        since the last call. A set released without all its parts has ``complete=False``,
        the parts that arrived and the missing part numbers."""
        released, self._evicted = self._evicted, []
        while self._pending:
            reference, pending = next(iter(self._pending.items()))
            if now - pending.first_seen <= self._timeout:
                break
            del self._pending[reference]
            released.append(self._release(reference, pending, now))
        while self._recent:
            reference, recent = next(iter(self._recent.items()))
            if now - recent.touched <= self._duplicate_window:
                break
            del self._recent[reference]
            if reference in self._pending:
                # Kept while a set of the reference waits: its echoes may fill that set's
                # gaps, and a redelivery must not be taken for a part of it.
                recent.touched = now
                self._recent[reference] = recent
        return released

    def _part(self, segment: Segment, data: bytes, fill_bits: int) -> _Part:
        if self._packed and coding_name(segment.data_coding) == "gsm7":
            data = unpack_text_septets(data, fill_bits)
        return _Part(segment.data_coding, data)

    def _add_part(
        self, reference: _Reference, segment: Segment, concat: ConcatInfo, part: _Part, now: float
    ) -> Filed:
        self._arrivals += 1
        number = concat.seqnum
        pending = self._pending.get(reference)
        held = pending.parts.get(number) if pending is not None else None
        if pending is not None and held == part:
            return Filed(None, pending.key, duplicate=True)
        echoed = self._echo(reference, number, part, now)
        if echoed is not None:
            return Filed(None, pending.key if pending is not None else echoed, duplicate=True)
        if pending is not None and held is not None:
            if not self._could_be_whole(reference, pending):
                # A number the set lacks has not come in any form: its sender cannot have
                # moved on yet. A differing copy of a part: the first is kept.
                return Filed(None, pending.key, duplicate=True)
            # Its sender moved on to the next message with the reference (module doc, 3).
            del self._pending[reference]
            self._evicted.append(self._release(reference, pending, now))
            pending = None
        if pending is None:
            pending = self._start(reference, segment, concat, now)
        pending.parts[number] = part
        pending.last_seen = now
        pending.last_arrival = self._arrivals
        if len(pending.parts) < pending.total:
            return Filed(None, pending.key)
        del self._pending[reference]
        return Filed(self._release(reference, pending, now), pending.key)

    def _echo(
        self, reference: _Reference, number: int, part: _Part, now: float
    ) -> ReassemblyKey | None:
        """If ``part`` repeats part ``number`` of a recent message, note the echo and
        return that message's key."""
        recent = self._recent.get(reference)
        if recent is None:
            return None
        fingerprint = _fingerprint(part)
        for key, parts in reversed(recent.done):
            if parts.get(number) == fingerprint:
                recent.echoes[number, part] = self._arrivals
                recent.touched = now
                self._recent[reference] = self._recent.pop(reference)  # expiry order
                return key
        return None

    def _echoes(self, reference: _Reference) -> dict[int, set[_Part]]:
        recent = self._recent.get(reference)
        found: dict[int, set[_Part]] = {}
        for number, part in recent.echoes if recent is not None else ():
            found.setdefault(number, set()).add(part)
        return found

    def _could_be_whole(self, reference: _Reference, pending: _PendingSet) -> bool:
        echoes = self._echoes(reference)
        lacking = (n for n in range(1, pending.total + 1) if n not in pending.parts)
        return all(number in echoes for number in lacking)

    def _start(
        self, reference: _Reference, segment: Segment, concat: ConcatInfo, now: float
    ) -> _PendingSet:
        if len(self._pending) >= self._max_pending:
            oldest = next(iter(self._pending))
            self._evicted.append(self._release(oldest, self._pending.pop(oldest), now))
        self._sets += 1
        key = (*reference, self._sets)
        pending = _PendingSet(key, segment, concat.reference, concat.total, now, now, {}, 0)
        self._pending[reference] = pending
        return pending

    def _release(self, reference: _Reference, pending: _PendingSet, now: float) -> CompletedMessage:
        """The message of a set leaving ``_pending``: its own parts, gaps filled by echoes."""
        parts = dict(pending.parts)
        for number, echoes in self._echoes(reference).items():
            if number not in parts and len(echoes) == 1:
                (parts[number],) = echoes
        recent = self._recent.get(reference)
        if recent is not None:
            # The next message with the reference was sent after this one: an echo that
            # came before this set's last part cannot be a part of it.
            recent.echoes = {
                echo: arrival
                for echo, arrival in recent.echoes.items()
                if arrival > pending.last_arrival
            }
        complete = len(parts) == pending.total
        mark = None
        if complete:
            fingerprints = {number: _fingerprint(part) for number, part in parts.items()}
            mark = ConcatMark(
                reference, tuple(fingerprints[n] for n in range(1, pending.total + 1))
            )
            if self._duplicate_window > 0:
                self._remember(reference, pending.key, fingerprints, now)
        return self._finish(pending, parts, complete, mark)

    def _remember(
        self, reference: _Reference, key: ReassemblyKey, parts: dict[int, bytes], now: float
    ) -> None:
        recent = self._recent.pop(reference, None)
        if recent is None:
            if len(self._recent) >= self._max_pending:
                del self._recent[next(iter(self._recent))]
            recent = _Recent(now, [], {})
        recent.done.append((key, parts))
        del recent.done[:-_REMEMBERED_PER_REFERENCE]
        recent.touched = now
        self._recent[reference] = recent  # (re-)inserted last: expiry order

    def _single(
        self,
        segment: Segment,
        decoded: DecodedText,
        now: float,
        reference: int | None,
        error: str | None,
        lossy: bool = False,
    ) -> CompletedMessage:
        return CompletedMessage(
            segment.source,
            segment.destination,
            segment.origin,
            segment.data_coding,
            decoded.text,
            decoded.encoding,
            decoded.binary,
            decoded.lossy or lossy,
            1,
            1,
            True,
            (),
            reference,
            now,
            now,
            segment.source_ton,
            segment.destination_ton,
            error,
        )

    def _finish(
        self,
        pending: _PendingSet,
        parts: dict[int, _Part],
        complete: bool,
        mark: ConcatMark | None,
    ) -> CompletedMessage:
        numbers = sorted(parts)
        # Decode each run of consecutive parts on its own: joining across a gap
        # could glue half an escape or surrogate pair to an unrelated part.
        runs: list[list[_Part]] = []
        previous = -1
        for number in numbers:
            if number != previous + 1 or not runs:
                runs.append([])
            runs[-1].append(parts[number])
            previous = number
        decoded = [self._decode(run) for run in runs]
        binaries = [item.binary for item in decoded if item.binary is not None]
        first = pending.first
        return CompletedMessage(
            first.source,
            first.destination,
            first.origin,
            parts[numbers[0]].data_coding,
            "".join(item.text for item in decoded),
            decoded[0].encoding,
            b"".join(binaries) if binaries else None,
            any(item.lossy for item in decoded),
            pending.total,
            len(numbers),
            complete,
            tuple(n for n in range(1, pending.total + 1) if n not in parts),
            pending.reference,
            pending.first_seen,
            pending.last_seen,
            first.source_ton,
            first.destination_ton,
            None,
            pending.key,
            mark,
        )

    def _decode(self, parts: list[_Part]) -> DecodedText:
        data_coding = parts[0].data_coding
        if all(part.data_coding == data_coding for part in parts):
            decoded = decode_text(b"".join(part.user_data for part in parts), data_coding)
        else:
            # A sender that changed alphabet between parts: decode each on its own.
            pieces = [decode_text(part.user_data, part.data_coding) for part in parts]
            binaries = [piece.binary for piece in pieces if piece.binary is not None]
            decoded = DecodedText(
                "".join(piece.text for piece in pieces),
                pieces[0].encoding,
                b"".join(binaries) if binaries else None,
                any(piece.lossy for piece in pieces),
            )
        if self._packed and decoded.encoding == "gsm7":
            return DecodedText(decoded.text, "gsm7-packed", None, decoded.lossy)
        return decoded


def _fingerprint(part: _Part) -> bytes:
    return blake2b(
        bytes((part.data_coding & 0xFF,)) + part.user_data, digest_size=_FINGERPRINT_BYTES
    ).digest()


def _sar_concat(segment: Segment) -> tuple[ConcatInfo | None, str | None]:
    fields = (segment.sar_msg_ref_num, segment.sar_total_segments, segment.sar_segment_seqnum)
    if all(field is None for field in fields):
        return None, None
    reference, total, seqnum = fields
    if reference is None or total is None or seqnum is None:
        return None, "incomplete sar_* TLVs"
    return ConcatInfo(reference, total, seqnum, 16), None
