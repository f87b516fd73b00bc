"""Text in SMPP user data: the data_coding table, GSM 03.38 and UCS2 (SMPP.md §7).

Decoding is on the gateway's hot path and must never raise, whatever a peer
sends: anything we cannot read becomes U+FFFD and ``lossy`` is set, so the
message is still delivered and the caller can decide what to do with it.
Encoding is our own business and raises :class:`LocalProtocolError` when a
text cannot be represented in the requested coding.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from smslocker.smpp.errors import DecodeError, LocalProtocolError

__all__ = [
    "GSM7_ASCII_ALIKE",
    "DecodedText",
    "coding_name",
    "decode_gsm7",
    "decode_text",
    "encode_text",
    "gsm7_encode",
    "gsm7_fits",
    "gsm7_septet_count",
    "pack_septets",
    "ucs2_code_units",
    "unpack_septets",
    "unpack_text_septets",
]

ESC = 0x1B
CR = 0x0D

# §7.1 basic table, one row of 16 per line (index = GSM code). Position 0x1B is
# the escape and never stands for a character of its own.
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# §7.1 extension table: character -> code that follows ESC (2 septets each).
_GSM_EXTENSION = {
    "\f": 0x0A,
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "€": 0x65,
}

# Decoding: a 256-entry charmap for codecs.charmap_decode, which runs in C and is
# several times faster than str.translate (hot path, hundreds of thousands of
# messages per second). Octets with the high bit set are not GSM: U+FFFD.
_GSM_DECODE_TABLE = _GSM_BASIC.replace("\x1b", "\ufffd") + "\ufffd" * 128
_GSM_EXTENSION_DECODE = {code: char for char, code in _GSM_EXTENSION.items()}
# The codes that stand for the ASCII character of the same value: letters, digits, space,
# most punctuation, LF and CR. A text made only of these (most one-time codes and most
# Latin-script texts) decodes as ASCII, with no table, no escape and nothing lossy.
_GSM_SAME_AS_ASCII = frozenset(
    code for code in range(0x80) if code != ESC and _GSM_BASIC[code] == chr(code)
)
#: ``data.translate(GSM7_ASCII_ALIKE)`` has a 1 where ``data`` (unpacked GSM 7-bit) has an
#: octet that does not read as the ASCII character of the same value, and 0 elsewhere: when
#: it has no 1, ``data.decode("ascii")`` is its text (one table lookup per octet, in C).
GSM7_ASCII_ALIKE = bytes(0 if code in _GSM_SAME_AS_ASCII else 1 for code in range(256))

# Encoding: charmap_encode accepts a dict whose values are ints or bytes, so the
# two-septet extension characters need no Python loop either.
_GSM_ENCODE_MAP: dict[int, int | bytes] = {
    ord(char): code for code, char in enumerate(_GSM_BASIC) if code != ESC
}
_GSM_ENCODE_MAP.update({ord(char): bytes((ESC, code)) for char, code in _GSM_EXTENSION.items()})
_GSM_CHARS = frozenset(chr(point) for point in _GSM_ENCODE_MAP)
_GSM_EXTENSION_CHARS = frozenset(_GSM_EXTENSION)

# Python codecs of the single-alphabet codings (§7 table).
_CODECS = {
    "ascii": "ascii",
    "latin1": "latin-1",
    "cyrillic": "iso8859_5",
    "hebrew": "iso8859_8",
    "iso2022jp": "iso2022_jp",
    "euckr": "euc_kr",
}


@dataclass(frozen=True, slots=True)
class DecodedText:
    """The result of :func:`decode_text`.

    For the 8-bit binary codings (0x02, 0x04, the 8-bit DCS groups) and for
    compressed user data, ``text`` is ``""`` and ``binary`` holds the octets:
    a hex rendering in ``text`` could be mistaken for words the sender wrote
    (a one-time code, say), so showing the bytes is left to the display layer.
    For every text coding ``binary`` is ``None``.
    """

    text: str
    encoding: str
    binary: bytes | None = None
    lossy: bool = False


def _general_group_name(data_coding: int) -> str:
    # GSM 03.38 general data coding groups 00xx and 01xx (the latter "marked for
    # automatic deletion"): bit 5 = compressed, bits 3-2 = alphabet. A reserved
    # alphabet (11) must be read as the default alphabet (03.38 §4).
    if data_coding & 0x20:
        return "compressed"
    return ("gsm7", "binary", "ucs2", "gsm7")[(data_coding >> 2) & 0x03]


def _name_for(data_coding: int) -> str:
    named = {
        0x00: "gsm7",
        0x01: "ascii",
        0x02: "binary",
        0x03: "latin1",
        0x04: "binary",
        0x06: "cyrillic",
        0x07: "hebrew",
        0x08: "ucs2",
        0x0A: "iso2022jp",
        0x0E: "euckr",
    }
    if data_coding in named:
        return named[data_coding]
    if 0x10 <= data_coding <= 0x7F:
        # SMPP 3.4 reserves 0x0F-0xBF but SMSCs pass GSM DCS values here (§7).
        return _general_group_name(data_coding)
    if 0xC0 <= data_coding <= 0xDF:  # message waiting, discard/store: 7-bit
        return "gsm7"
    if 0xE0 <= data_coding <= 0xEF:  # message waiting, store, UCS2
        return "ucs2"
    if data_coding >= 0xF0:  # message class group: bit 2 picks 8-bit data
        return "binary" if data_coding & 0x04 else "gsm7"
    # 0x05 JIS, 0x09 pictogram, 0x0B/0x0C reserved, 0x0D JIS X 0212, 0x0F,
    # 0x80-0xBF: no codec we trust; see _decode_unknown.
    return "unknown"


_CODING_NAMES = tuple(_name_for(value) for value in range(256))


def coding_name(data_coding: int) -> str:
    """The alphabet a data_coding value selects (§7): one of ``gsm7``, ``ascii``,
    ``binary``, ``compressed``, ``latin1``, ``cyrillic``, ``hebrew``, ``ucs2``,
    ``iso2022jp``, ``euckr`` or ``unknown``."""
    if 0 <= data_coding <= 0xFF:
        return _CODING_NAMES[data_coding]
    return "unknown"


# --------------------------------------------------------------------- GSM 7-bit


def gsm7_fits(text: str) -> bool:
    """True if every character of ``text`` has a GSM 03.38 code (basic or extension)."""
    return _GSM_CHARS.issuperset(text)


def gsm7_encode(text: str) -> bytes:
    """Encode ``text`` as unpacked GSM 7-bit: one septet per octet, extension
    characters as ESC + code (§7.1).

    Raises :class:`LocalProtocolError` naming the first character without a GSM code.
    """
    try:
        return codecs.charmap_encode(text, "strict", _GSM_ENCODE_MAP)[0]
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise LocalProtocolError(
            f"character {char!r} (U+{ord(char):04X}) at index {exc.start} has no GSM 03.38 code"
        ) from None


def gsm7_septet_count(text: str) -> int:
    """Septets ``text`` needs in GSM 7-bit; extension characters count 2 (§7.3).

    Raises :class:`LocalProtocolError` if the text does not fit the alphabet.
    """
    if not gsm7_fits(text):
        gsm7_encode(text)  # raises, naming the character
    return len(text) + sum(1 for char in text if char in _GSM_EXTENSION_CHARS)


def ucs2_code_units(text: str) -> int:
    """UTF-16 code units of ``text``: astral characters (most emoji) count 2 (§7.2)."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def pack_septets(septets: bytes, fill_bits: int = 0) -> bytes:
    """Pack septets 8-into-7, septet *i* at bit offset ``fill_bits + 7*i``, LSB
    first (§7.1).

    ``fill_bits`` (0-6) zero bits come first so that, after a UDH, the text starts
    on a septet boundary. When exactly 7 bits would be left over in the last
    octet they are filled with CR, as GSM 03.38 §6.1.2.3.1 asks, so a receiver
    does not read an ``@``.
    """
    if not 0 <= fill_bits <= 6:
        raise LocalProtocolError(f"fill_bits must be 0-6, not {fill_bits}")
    if not septets.isascii():
        raise LocalProtocolError("a septet must be below 0x80")
    if not septets:
        return b""
    if (fill_bits + 7 * len(septets)) % 8 == 1:
        septets += bytes((CR,))
    out = bytearray()
    accumulator = 0
    bits = fill_bits
    for septet in septets:
        accumulator |= septet << bits
        bits += 7
        if bits >= 8:
            out.append(accumulator & 0xFF)
            accumulator >>= 8
            bits -= 8
    if bits:
        out.append(accumulator)
    return bytes(out)


def unpack_septets(data: bytes, count: int | None = None, fill_bits: int = 0) -> bytes:
    """Unpack packed GSM 7-bit into one septet per octet (§7.1).

    Skips ``fill_bits`` leading bits. Without ``count`` every whole septet is
    returned (a trailing padding septet included, see :func:`unpack_text_septets`).
    Raises :class:`DecodeError` if ``count`` septets are not there.
    """
    if not 0 <= fill_bits <= 6:
        raise LocalProtocolError(f"fill_bits must be 0-6, not {fill_bits}")
    available = max(0, (8 * len(data) - fill_bits) // 7)
    if count is None:
        count = available
    elif count < 0:
        raise LocalProtocolError("count must not be negative")
    elif count > available:
        raise DecodeError(f"{count} septets do not fit in {len(data)} octets", status=0x01)
    out = bytearray()
    accumulator = 0
    bits = -fill_bits
    for octet in data:
        if bits < 0:  # first octet: drop the fill bits
            accumulator = octet >> fill_bits
            bits = 8 - fill_bits
        else:
            accumulator |= octet << bits
            bits += 8
        while bits >= 7 and len(out) < count:
            out.append(accumulator & 0x7F)
            accumulator >>= 7
            bits -= 7
        if len(out) >= count:
            break
    return bytes(out)


def unpack_text_septets(data: bytes, fill_bits: int = 0) -> bytes:
    """Unpack packed GSM text whose septet count is unknown (SMPP carries octets).

    When the octets hold a whole number of septets the last one may be the 7
    padding bits; GSM 03.38 §6.1.2.3.1 makes the sender put CR there, so a
    trailing CR in that position is dropped.
    """
    septets = unpack_septets(data, None, fill_bits)
    if septets and (8 * len(data) - fill_bits) % 7 == 0 and septets[-1] == CR:
        return septets[:-1]
    return septets


def decode_gsm7(data: bytes) -> tuple[str, bool]:
    """``(text, lossy)`` of unpacked GSM 7-bit: ``decode_text(data, 0)`` without the
    :class:`DecodedText`, for the gateway's hot path (one call per message)."""
    if 1 not in data.translate(GSM7_ASCII_ALIKE):
        return data.decode("ascii"), False
    if ESC not in data:
        return codecs.charmap_decode(data, "strict", _GSM_DECODE_TABLE)[0], not data.isascii()
    decoded = _decode_gsm_escapes(data)
    return decoded.text, decoded.lossy


def _decode_gsm(data: bytes) -> DecodedText:
    text, lossy = decode_gsm7(data)
    return DecodedText(text, "gsm7", None, lossy)


def _decode_gsm_escapes(data: bytes) -> DecodedText:
    pieces: list[str] = []
    lossy = not data.isascii()
    start = 0
    end = len(data)
    while True:
        escape = data.find(ESC, start)
        if escape < 0:
            pieces.append(codecs.charmap_decode(data[start:], "strict", _GSM_DECODE_TABLE)[0])
            break
        pieces.append(codecs.charmap_decode(data[start:escape], "strict", _GSM_DECODE_TABLE)[0])
        if escape + 1 == end:
            # A lone ESC at the very end: some senders split an escape pair across
            # parts (concat.py joins parts before decoding). Alone it means nothing;
            # drop it and say the text is not exact.
            lossy = True
            break
        code = data[escape + 1]
        char = _GSM_EXTENSION_DECODE.get(code)
        if char is None:
            # 03.38: an unknown extension code shows the basic-table character;
            # ESC ESC (reserved for a further table) shows as a space.
            lossy = True
            char = " " if code == ESC else _GSM_DECODE_TABLE[code]
        pieces.append(char)
        start = escape + 2
    return DecodedText("".join(pieces), "gsm7", None, lossy)


# --------------------------------------------------------------------- decoding


def _decode_with(data: bytes, codec: str, name: str) -> DecodedText:
    try:
        return DecodedText(data.decode(codec), name)
    except UnicodeDecodeError:
        return DecodedText(data.decode(codec, "replace"), name, None, True)


def _decode_unknown(data: bytes) -> DecodedText:
    # Codings we have no codec for. 03.38 says reserved codings are read as the
    # default alphabet, so 7-bit clean data is GSM and not lossy. Octets with the
    # high bit set cannot be GSM: show them as Latin-1 and flag the result lossy,
    # because the characters are a guess and probably not what was sent.
    if data.isascii():
        return _decode_gsm(data)
    return DecodedText(data.decode("latin-1"), "latin1", None, True)


def decode_text(data: bytes, data_coding: int, *, packed: bool = False) -> DecodedText:
    """Decode SMPP user data (the UDH already removed) according to ``data_coding``.

    Never raises. ``packed`` says that GSM 7-bit data is packed 8-into-7 (a
    bilateral agreement, §7.1); it is ignored for the other alphabets.
    Interpretation of the values is given by :func:`coding_name`: SMPP 3.4's own
    table for 0x00-0x0E, the GSM 03.38 DCS groups above it.
    """
    if data_coding == 0 and not packed:  # by far the most common case
        return _decode_gsm(data)
    name = coding_name(data_coding)
    if name == "gsm7":
        if packed:
            decoded = _decode_gsm(unpack_text_septets(data))
            return DecodedText(decoded.text, "gsm7-packed", None, decoded.lossy)
        return _decode_gsm(data)
    if name == "ucs2":
        # UTF-16BE in practice (§7.2), so surrogate pairs (emoji) decode. An odd
        # length or a lone surrogate becomes U+FFFD rather than a str that can't
        # be encoded to UTF-8 later.
        return _decode_with(data, "utf-16-be", "ucs2")
    if name in ("binary", "compressed"):
        return DecodedText("", name, data, False)
    if name == "unknown":
        return _decode_unknown(data)
    return _decode_with(data, _CODECS[name], name)


# --------------------------------------------------------------------- encoding


def encode_text(text: str, data_coding: int | None = None) -> tuple[int, bytes]:
    """Encode ``text`` for short_message/message_payload; return ``(data_coding, octets)``.

    With ``data_coding=None``: GSM 7-bit unpacked (0x00) if every character has a
    GSM code, else UCS2 (0x08, UTF-16BE). With an explicit value the text is
    encoded in that value's alphabet (GSM is always produced unpacked).
    Raises :class:`LocalProtocolError` if the text cannot be represented, or the
    coding is binary, compressed or one we have no codec for.
    """
    if data_coding is None:
        if gsm7_fits(text):
            return 0x00, gsm7_encode(text)
        return 0x08, _encode_with(text, "utf-16-be", 0x08)
    name = coding_name(data_coding)
    if name == "gsm7":
        return data_coding, gsm7_encode(text)
    if name == "ucs2":
        return data_coding, _encode_with(text, "utf-16-be", data_coding)
    if name in _CODECS:
        return data_coding, _encode_with(text, _CODECS[name], data_coding)
    raise LocalProtocolError(f"data_coding 0x{data_coding:02X} ({name}) cannot carry text")


def _encode_with(text: str, codec: str, data_coding: int) -> bytes:
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        char = text[exc.start]
        raise LocalProtocolError(
            f"character {char!r} (U+{ord(char):04X}) at index {exc.start} "
            f"cannot be encoded with data_coding 0x{data_coding:02X}"
        ) from None
