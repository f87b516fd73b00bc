"""Delivery receipts: recognising, parsing and formatting them (SMPP.md §9).

A receipt arrives as a deliver_sm (or data_sm) whose text follows an informal,
vendor-specific layout; 3.4 SMSCs may add receipted_message_id and
message_state TLVs, which are authoritative when present (§9.3). The parser is
fed whatever an SMSC sent and never raises: a field it cannot read is None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "MESSAGE_STATES",
    "DeliveryReceipt",
    "format_receipt_text",
    "is_receipt",
    "normalise_message_id",
    "parse_receipt",
]

# esm_class message types that carry a receipt or acknowledgement (§6.1).
_RECEIPT_TYPES = frozenset({0x04, 0x08, 0x10, 0x20})

# message_state value -> the 7-character stat word of the text format (§9.2, §9.3).
MESSAGE_STATES = {
    0: "SCHEDULED",  # 5.0
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
    9: "SKIPPED",  # 5.0
}
# Stat words as SMSCs spell them -> message_state. Words not listed (ACKED,
# BUFFRED, ...) are kept as sent, with no message_state.
_STAT_WORDS = {word: state for state, word in MESSAGE_STATES.items()} | {
    "DELIVERED": 2,
    "UNDELIVERABLE": 5,
    "UNDELIVERED": 5,
    "ACCEPTED": 6,
    "REJECTED": 8,
}

# One key of the text format, at the start or after whitespace. Only the keys
# are matched; a value is whatever lies before the next key, so ids containing
# spaces survive (§9.2). "text:" ends the scan: the original message's words
# may look like keys.
_KEY = re.compile(
    r"(?:^|(?<=\s))(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat(?:e|us)?|err(?:or)?|text)"
    r"\s*:",
    re.IGNORECASE,
)


def is_receipt(esm_class: int, has_receipted_message_id: bool, has_message_state: bool) -> bool:
    """True if a deliver_sm/data_sm is a receipt or acknowledgement rather than an MO.

    Tests the message-type bits (§6.1), not equality: 0x44 is a receipt with a
    UDH. The receipt TLVs alone are also taken as proof.
    """
    return (esm_class & 0x3C) in _RECEIPT_TYPES or has_receipted_message_id or has_message_state


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A parsed delivery receipt.

    ``state`` is the stat word, normalised to the 7-character form for the
    known states (``DELIVRD``, ``UNDELIV``, ...), kept as sent otherwise, and
    ``UNKNOWN`` when neither the TLV nor the text gives one. The dates carry no
    time zone: the text format has none, and SMSCs write their own local time
    or UTC, so they are naive datetimes to be read in the SMSC's zone.
    """

    message_id: str
    state: str
    message_state: int | None
    submitted: int | None
    delivered: int | None
    submit_date: datetime | None
    done_date: datetime | None
    error: str | None
    network_error_code: bytes | None
    text: str | None
    source: str
    destination: str
    raw_text: str


def _fields(text: str) -> dict[str, str]:
    matches = list(_KEY.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        key = re.sub(r"[\s_]", "", match.group(1).lower())
        key = {"state": "stat", "status": "stat", "error": "err"}.get(key, key)
        if key == "text":
            fields.setdefault("text", text[match.end() :].strip())
            break
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields.setdefault(key, text[match.end() : end].strip())
    return fields


def _count(value: str | None) -> int | None:
    if value and value.isascii() and value.isdigit():
        return int(value)
    return None


def _receipt_date(value: str | None) -> datetime | None:
    """YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss (§9.2); two-digit years are 20YY.

    Twelve digits are read as YYMMDDhhmmss, or as YYYYMMDDhhmm when that is not
    a valid date (``202401151230``), since both are seen.
    """
    if not value or not value.isascii() or not value.isdigit():
        return None
    if len(value) == 10:
        return _date(2000 + int(value[:2]), value[2:] + "00")
    if len(value) == 12:
        return _date(2000 + int(value[:2]), value[2:]) or _date(int(value[:4]), value[4:] + "00")
    if len(value) == 14:
        return _date(int(value[:4]), value[4:])
    return None


def _date(year: int, rest: str) -> datetime | None:
    """``rest`` is MMDDhhmmss."""
    month, day, hour, minute, second = (int(rest[i : i + 2]) for i in range(0, 10, 2))
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


def _state(word: str | None, message_state: int | None) -> tuple[str, int | None]:
    if message_state in MESSAGE_STATES:
        return MESSAGE_STATES[message_state], message_state
    tokens = (word or "").split()
    word = tokens[0].upper() if tokens else ""
    from_text = _STAT_WORDS.get(word)
    state = MESSAGE_STATES[from_text] if from_text is not None else word or "UNKNOWN"
    return state, from_text if message_state is None else message_state


def parse_receipt(
    text: str,
    *,
    receipted_message_id: str | None,
    message_state: int | None,
    network_error_code: bytes | None,
    source: str,
    destination: str,
) -> DeliveryReceipt:
    """Parse a receipt from its text and TLVs; never raises.

    The receipted_message_id and message_state TLVs win over the text when
    present (§9.3). The text is read key by key, case-insensitively, tolerating
    missing keys, extra spaces and ``Text:``; see :class:`DeliveryReceipt`.
    """
    fields = _fields(text)
    message_id = (receipted_message_id or "").strip("\x00 \t\r\n")
    if not message_id:
        message_id = fields.get("id", "")
    state, state_value = _state(fields.get("stat"), message_state)
    return DeliveryReceipt(
        message_id=message_id,
        state=state,
        message_state=state_value,
        submitted=_count(fields.get("sub")),
        delivered=_count(fields.get("dlvrd")),
        submit_date=_receipt_date(fields.get("submitdate")),
        done_date=_receipt_date(fields.get("donedate")),
        error=fields.get("err") or None,
        network_error_code=network_error_code,
        text=fields.get("text"),
        source=source,
        destination=destination,
        raw_text=text,
    )


def normalise_message_id(message_id: str) -> set[str]:
    """The forms under which ``message_id`` may come back (§9.3).

    SMSCs answer submit_sm_resp in hex and write the receipt id in decimal (or
    the reverse), sometimes zero-padded. Two ids refer to the same message if
    their sets intersect. The set holds the id lower-cased, without leading
    zeros, and the decimal value of its decimal and hex readings. Because an id
    like ``10`` has two readings, a store should try an exact match first and
    use these variants as the fallback.
    """
    cleaned = message_id.strip("\x00 \t\r\n").lower()
    variants = {cleaned}
    if not cleaned or not cleaned.isascii():
        return variants
    variants.add(cleaned.lstrip("0") or "0")
    # Ids are at most 64 characters (§3.6); the guard keeps int() cheap on junk.
    if len(cleaned) <= 64:
        if cleaned.isdigit():
            variants.add(str(int(cleaned, 10)))
        if all(char in "0123456789abcdef" for char in cleaned):
            variants.add(str(int(cleaned, 16)))
    return variants


def format_receipt_text(
    message_id: str,
    state: str,
    *,
    submit_date: datetime,
    done_date: datetime,
    submitted: int = 1,
    delivered: int | None = None,
    error: str | int = 0,
    text: str | None = "",
    seconds: bool = False,
) -> str:
    """A receipt text in the common layout of §9.2 (for the simulator).

    ``delivered`` defaults to 1 for DELIVRD and 0 otherwise; ``text`` is cut to
    its first 20 characters and the ``text:`` field left out when None;
    ``seconds`` writes dates as YYMMDDhhmmss instead of YYMMDDhhmm.
    """
    if delivered is None:
        delivered = 1 if state == "DELIVRD" else 0
    layout = "%y%m%d%H%M%S" if seconds else "%y%m%d%H%M"
    error_text = f"{error:03d}" if isinstance(error, int) else error
    receipt = (
        f"id:{message_id} sub:{submitted:03d} dlvrd:{delivered:03d}"
        f" submit date:{submit_date.strftime(layout)} done date:{done_date.strftime(layout)}"
        f" stat:{state} err:{error_text}"
    )
    if text is not None:
        receipt += f" text:{text[:20]}"
    return receipt
