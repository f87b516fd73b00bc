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
"""

from __future__ import annotations

from dataclasses import dataclass

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


# (origin, source, destination, reference, total, "udh8" | "udh16" | "sar")
ReassemblyKey = tuple[str, str, str, int, int, str]


@dataclass(frozen=True, slots=True)
class CompletedMessage:
    """A whole message, or what arrived of one before it timed out.

    ``parts`` is the number of parts expected, ``missing`` the part numbers that
    never came (``complete`` is False then). ``concat_error`` is set when the
    segment carried concatenation data we could not use (malformed UDH, part
    number 0 or above the total, incomplete sar_* TLVs): the segment was then
    delivered as a single message. ``key`` names the set a long message was
    assembled in (None for a single message), as :class:`Filed` reported it.
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


@dataclass(frozen=True, slots=True)
class Filed:
    """What :meth:`Reassembler.file` did with a segment.

    ``message`` is the message the segment completed (or was), else None.
    ``key`` names the set the segment belongs to, None for a single message; a
    caller that holds back deliver_sm_resp until a message is stored keys the
    held PDUs by it. ``duplicate`` says the segment repeated a part already held
    or already passed on, and was not used.
    """

    message: CompletedMessage | None
    key: ReassemblyKey | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class _Part:
    data_coding: int
    user_data: bytes  # UDH removed; packed GSM already unpacked to septets


@dataclass(slots=True)
class _CompletedSet:
    touched: float  # completion, or the last part held as a suspect
    parts: dict[int, _Part]
    # Parts identical to one of ``parts`` that arrived afterwards: a redelivery,
    # or the start of a new message that reuses the reference (see _add_part).
    suspects: dict[int, tuple[_Part, float]]


@dataclass(slots=True)
class _PendingSet:
    first: Segment
    reference: int
    total: int
    first_seen: float
    last_seen: float
    parts: dict[int, _Part]


class Reassembler:
    """Reassembles long messages from UDH or SAR segments (§8); see the module doc.

    Duplicates of a part number are ignored and the first copy kept: a
    redelivered part (the SMSC missed our deliver_sm_resp) is the same data. For
    ``duplicate_window`` seconds after a message completes (default: ``timeout``)
    a part identical to one of its parts is held back rather than starting a new
    set, so a late redelivery doesn't surface as a one-part fragment; should a
    differing part with the same key follow, the sender has reused the reference
    and the held part joins the new message. ``packed`` says GSM 7-bit user data
    on this connector is packed (§7.1). When ``max_pending`` sets are waiting, the
    oldest is evicted and comes out of the next :meth:`expire` as incomplete.
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
        self._pending: dict[ReassemblyKey, _PendingSet] = {}
        self._completed: dict[ReassemblyKey, _CompletedSet] = {}
        self._evicted: list[CompletedMessage] = []

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
        key = (
            segment.origin,
            segment.source,
            segment.destination,
            concat.reference,
            concat.total,
            kind,
        )
        return self._add_part(key, segment, concat, part, now)

    def forget(self, key: ReassemblyKey) -> None:
        """Forget a completed message, so its parts are accepted afresh.

        For a caller whose sink could not store the message: the SMSC redelivers
        every part (none was acked), and they must make the message again rather
        than be taken for duplicates of one that was never kept.
        """
        self._completed.pop(key, None)

    def expire(self, now: float) -> list[CompletedMessage]:
        """Release sets whose first part is older than ``timeout`` (``complete=False``,
        with the parts that arrived and the missing part numbers), plus any set
        evicted since the last call because ``max_pending`` was reached."""
        released, self._evicted = self._evicted, []
        while self._pending:
            key, pending = next(iter(self._pending.items()))
            if now - pending.first_seen <= self._timeout:
                break
            del self._pending[key]
            released.append(self._finish(key, pending, complete=False))
        while self._completed:
            key, completed = next(iter(self._completed.items()))
            if now - completed.touched <= self._duplicate_window:
                break
            del self._completed[key]
        return released

    def _part(self, segment: Segment, data: bytes, fill_bits: int) -> _Part:
        if self._packed and coding_name(segment.data_coding) == "gsm7":
            data = unpack_text_septets(data, fill_bits)
        return _Part(segment.data_coding, data)

    def _add_part(
        self, key: ReassemblyKey, segment: Segment, concat: ConcatInfo, part: _Part, now: float
    ) -> Filed:
        seqnum = concat.seqnum
        held: dict[int, tuple[_Part, float]] = {}
        completed = self._completed.pop(key, None)
        if completed is not None:
            if completed.parts.get(seqnum) == part:
                # A redelivery, or a new message reusing the reference whose part
                # happens to be identical: hold it until a differing part decides.
                completed.suspects.setdefault(seqnum, (part, now))
                completed.touched = now
                self._completed[key] = completed  # re-inserted: expiry order = touched
                return Filed(None, key, duplicate=True)
            held = completed.suspects  # the reference was reused: a new message
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self._max_pending:
                oldest_key = next(iter(self._pending))
                evicted = self._pending.pop(oldest_key)
                self._evicted.append(self._finish(oldest_key, evicted, complete=False))
            # A set seeded with held parts may be released by expire() up to
            # duplicate_window late, as it sits behind sets created before it.
            first_seen = min([now, *(seen for _, seen in held.values())])
            parts = {number: item for number, (item, _) in held.items() if number != seqnum}
            pending = _PendingSet(segment, concat.reference, concat.total, first_seen, now, parts)
            self._pending[key] = pending
        elif seqnum in pending.parts:
            return Filed(None, key, duplicate=True)
        pending.parts[seqnum] = part
        pending.last_seen = now
        if len(pending.parts) < pending.total:
            return Filed(None, key)
        del self._pending[key]
        if self._duplicate_window > 0:
            if len(self._completed) >= self._max_pending:
                del self._completed[next(iter(self._completed))]
            self._completed[key] = _CompletedSet(now, pending.parts, {})
        return Filed(self._finish(key, pending, complete=True), key)

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

    def _finish(self, key: ReassemblyKey, pending: _PendingSet, complete: bool) -> CompletedMessage:
        numbers = sorted(pending.parts)
        # Decode each run of consecutive parts on its own: joining across a gap
        # could glue half an escape or surrogate pair to an unrelated part.
        runs: list[list[_Part]] = []
        previous = -1
        for number in numbers:
            if number != previous + 1 or not runs:
                runs.append([])
            runs[-1].append(pending.parts[number])
            previous = number
        decoded = [self._decode(run) for run in runs]
        binaries = [item.binary for item in decoded if item.binary is not None]
        first = pending.first
        return CompletedMessage(
            first.source,
            first.destination,
            first.origin,
            pending.parts[numbers[0]].data_coding,
            "".join(item.text for item in decoded),
            decoded[0].encoding,
            b"".join(binaries) if binaries else None,
            any(item.lossy for item in decoded),
            pending.total,
            len(numbers),
            complete,
            tuple(n for n in range(1, pending.total + 1) if n not in pending.parts),
            pending.reference,
            pending.first_seen,
            pending.last_seen,
            first.source_ton,
            first.destination_ton,
            None,
            key,
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


def _sar_concat(segment: Segment) -> tuple[ConcatInfo | None, str | None]:
    fields = (segment.sar_msg_ref_num, segment.sar_total_segments, segment.sar_segment_seqnum)
    if all(field is None for field in fields):
        return None, None
    reference, total, seqnum = fields
    if reference is None or total is None or seqnum is None:
        return None, "incomplete sar_* TLVs"
    return ConcatInfo(reference, total, seqnum, 16), None
