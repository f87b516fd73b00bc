"""Data codings: GSM 03.38, packing, UCS2 and the data_coding table (SMPP.md §7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp.errors import DecodeError, LocalProtocolError
from smslocker.smpp.text import (
    DecodedText,
    coding_name,
    decode_gsm7,
    decode_text,
    encode_text,
    gsm7_encode,
    gsm7_fits,
    gsm7_septet_count,
    pack_septets,
    ucs2_code_units,
    unpack_septets,
    unpack_text_septets,
)

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = "\f^{}\\[~]|€"
gsm_text = st.text(alphabet=GSM_BASIC + GSM_EXTENSION)


# --------------------------------------------------------------------- GSM tables


def test_basic_table_has_127_characters_and_the_escape() -> None:
    codes = {char: gsm7_encode(char) for char in GSM_BASIC}
    assert len(GSM_BASIC) == 127
    assert sorted(code[0] for code in codes.values()) == [c for c in range(128) if c != 0x1B]


@pytest.mark.parametrize(
    ("char", "code"),
    [("@", 0x00), ("£", 0x01), ("$", 0x02), ("¤", 0x24), ("§", 0x5F), ("¡", 0x40), ("¿", 0x60)],
)
def test_basic_table_traps(char: str, code: int) -> None:
    assert gsm7_encode(char) == bytes([code])
    assert decode_text(bytes([code]), 0x00).text == char


@pytest.mark.parametrize(
    ("char", "code"),
    [
        ("\f", 0x0A),
        ("^", 0x14),
        ("{", 0x28),
        ("}", 0x29),
        ("\\", 0x2F),
        ("[", 0x3C),
        ("~", 0x3D),
        ("]", 0x3E),
        ("|", 0x40),
        ("€", 0x65),
    ],
)
def test_extension_table(char: str, code: int) -> None:
    assert gsm7_encode(char) == bytes([0x1B, code])
    assert gsm7_septet_count(char) == 2


def test_hello_euro_worked_example() -> None:
    text = "Hello €uro [test] ~^{}"
    encoded = gsm7_encode(text)
    assert encoded == bytes.fromhex(
        "48 65 6c 6c 6f 20 1b 65 75 72 6f 20 1b 3c 74 65 73 74 1b 3e 20 1b 3d 1b 14 1b 28 1b 29"
    )
    assert gsm7_septet_count(text) == len(encoded) == 29
    assert decode_text(encoded, 0x00) == DecodedText(text, "gsm7", None, False)
    assert encode_text(text) == (0x00, encoded)


def test_worked_example_hi_from_submit_sm() -> None:
    # SMPP.md §3.5: data_coding 0, short_message 48 69.
    assert decode_text(bytes.fromhex("4869"), 0x00).text == "Hi"


@pytest.mark.parametrize("text", ["`", "ab`c", "naïve", "ç", "😀"])
def test_gsm_encode_names_the_first_bad_character(text: str) -> None:
    bad = next(char for char in text if not gsm7_fits(char))
    with pytest.raises(LocalProtocolError, match=f"U\\+{ord(bad):04X}"):
        gsm7_encode(text)
    with pytest.raises(LocalProtocolError):
        gsm7_septet_count(text)
    assert not gsm7_fits(text)


@given(gsm_text)
def test_gsm_round_trip(text: str) -> None:
    encoded = gsm7_encode(text)
    assert encoded.isascii()
    assert len(encoded) == gsm7_septet_count(text)
    assert decode_text(encoded, 0x00) == DecodedText(text, "gsm7", None, False)


def test_gsm_high_bit_octets_are_replaced_and_lossy() -> None:
    decoded = decode_text(b"A\x80B\xff", 0x00)
    assert decoded.text == "A\ufffdB\ufffd"
    assert decoded.lossy


def test_gsm_lone_trailing_escape_is_dropped_and_lossy() -> None:
    decoded = decode_text(b"ab\x1b", 0x00)
    assert decoded.text == "ab"
    assert decoded.lossy


def test_gsm_unknown_escape_falls_back_to_basic_table() -> None:
    # 03.38: an escape code without an extension character shows the basic one.
    decoded = decode_text(b"\x1b\x41\x1b\x1bx", 0x00)
    assert decoded.text == "A x"
    assert decoded.lossy


def test_gsm_escape_with_high_bit_elsewhere() -> None:
    decoded = decode_text(b"\x1be\x90", 0x00)
    assert decoded.text == "€\ufffd"
    assert decoded.lossy


def reference_gsm7(data: bytes) -> tuple[str, bool]:
    """Unpacked GSM 7-bit decoded octet by octet from this file's own tables: what
    decode_gsm7() and its ASCII fast path must agree with."""
    basic = GSM_BASIC[:0x1B] + "\x1b" + GSM_BASIC[0x1B:]
    extension = {gsm7_encode(char)[1]: char for char in GSM_EXTENSION}
    chars: list[str] = []
    lossy = False
    index = 0
    while index < len(data):
        code = data[index]
        if code == 0x1B:
            if index + 1 == len(data):
                return "".join(chars), True  # a lone ESC at the end is dropped
            following = data[index + 1]
            if following in extension:
                chars.append(extension[following])
            else:
                # Unknown extension: the basic character; ESC ESC: a space (03.38).
                lossy = True
                if following == 0x1B:
                    chars.append(" ")
                else:
                    chars.append(basic[following] if following < 0x80 else "\ufffd")
            index += 2
            continue
        if code >= 0x80:
            chars.append("\ufffd")
            lossy = True
        else:
            chars.append(basic[code])
        index += 1
    return "".join(chars), lossy


@given(
    st.one_of(
        st.binary(max_size=60),
        gsm_text.map(gsm7_encode),
        # Mostly the ASCII-alike codes, now and then one that is not: the fast path's edge.
        st.lists(
            st.one_of(
                st.sampled_from(b"Your code is 482913 \n\r:;?!%&'()*+,-./=<>\"#"),
                st.sampled_from(b"\x00\x02\x1b\x24\x40\x5b\x5f\x60\x7b\x7f\x80\xff"),
            ),
            max_size=40,
        ).map(bytes),
    )
)
def test_decode_gsm7_agrees_with_an_octet_by_octet_reference(data: bytes) -> None:
    text, lossy = reference_gsm7(data)
    assert decode_gsm7(data) == (text, lossy)
    assert decode_text(data, 0x00) == DecodedText(text, "gsm7", None, lossy)


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"Your code is 482913", "Your code is 482913"),
        (b"costs $5 @ shop_1", "costs ¤5 ¡ shop§1"),  # $ @ _ are not ASCII in GSM
        (b"line\nbreak\r", "line\nbreak\r"),
    ],
)
def test_decode_gsm7_ascii_lookalikes(data: bytes, text: str) -> None:
    assert decode_gsm7(data) == (text, False)


# --------------------------------------------------------------------- packing


def test_pack_known_vector() -> None:
    # The classic 03.38 example: "hellohello" packs into 9 octets.
    assert pack_septets(gsm7_encode("hellohello")) == bytes.fromhex("e8329bfd4697d9ec37")
    assert unpack_septets(bytes.fromhex("e8329bfd4697d9ec37"), 10) == b"hellohello"


def test_pack_with_fill_bit_after_concat_udh() -> None:
    # After a 6-octet UDH, 1 fill bit puts the text on a septet boundary (§7.1).
    packed = pack_septets(b"A", fill_bits=1)
    assert packed == bytes([0x41 << 1])
    assert unpack_septets(packed, 1, fill_bits=1) == b"A"


def test_pack_pads_seven_spare_bits_with_cr() -> None:
    packed = pack_septets(b"1234567")  # 49 bits: 7 spare bits in the 7th octet
    assert len(packed) == 7
    assert unpack_septets(packed) == b"1234567\r"
    assert unpack_text_septets(packed) == b"1234567"
    assert decode_text(packed, 0x00, packed=True) == DecodedText("1234567", "gsm7-packed")


@given(st.binary().map(lambda data: bytes(b & 0x7F for b in data)), st.integers(0, 6))
def test_pack_unpack_round_trip(septets: bytes, fill_bits: int) -> None:
    packed = pack_septets(septets, fill_bits)
    # No septets, no octets (not even one holding only fill bits).
    assert len(packed) == ((fill_bits + 7 * len(septets) + 7) // 8 if septets else 0)
    assert unpack_septets(packed, len(septets), fill_bits) == septets
    assert unpack_septets(packed, None, fill_bits)[: len(septets)] == septets


@given(gsm_text.filter(lambda text: not text.endswith("\r")))
def test_packed_text_round_trip(text: str) -> None:
    packed = pack_septets(gsm7_encode(text))
    assert decode_text(packed, 0x00, packed=True) == DecodedText(text, "gsm7-packed")


def test_unpack_refuses_more_septets_than_present() -> None:
    with pytest.raises(DecodeError):
        unpack_septets(b"\x00", 2)


@pytest.mark.parametrize("fill_bits", [-1, 7])
def test_bad_fill_bits_are_our_mistake(fill_bits: int) -> None:
    with pytest.raises(LocalProtocolError):
        pack_septets(b"a", fill_bits)
    with pytest.raises(LocalProtocolError):
        unpack_septets(b"a", None, fill_bits)


def test_pack_refuses_octets_above_0x7f() -> None:
    with pytest.raises(LocalProtocolError):
        pack_septets(b"\x80")


# --------------------------------------------------------------------- UCS2


@given(st.text())
def test_ucs2_round_trip_including_astral(text: str) -> None:
    try:
        text.encode("utf-16-be")
    except UnicodeEncodeError:  # lone surrogates cannot be sent at all
        with pytest.raises(LocalProtocolError):
            encode_text(text, 0x08)
        return
    coding, encoded = encode_text(text, 0x08)
    assert coding == 0x08
    assert len(encoded) == 2 * ucs2_code_units(text)
    assert decode_text(encoded, 0x08) == DecodedText(text, "ucs2")


def test_ucs2_emoji_is_a_surrogate_pair() -> None:
    coding, encoded = encode_text("hi 😀")
    assert coding == 0x08
    assert encoded == bytes.fromhex("0068 0069 0020 d83d de00")
    assert ucs2_code_units("hi 😀") == 5


@pytest.mark.parametrize(
    ("data", "text"),
    [(b"\x00A\x00", "A\ufffd"), (b"\xd8\x3d", "\ufffd"), (b"\xde\x00\x00B", "\ufffdB")],
)
def test_ucs2_odd_length_and_lone_surrogates_are_lossy(data: bytes, text: str) -> None:
    decoded = decode_text(data, 0x08)
    assert decoded.text == text
    assert decoded.lossy
    decoded.text.encode("utf-8")  # no lone surrogate leaks out


# --------------------------------------------------------------------- the table


@pytest.mark.parametrize(
    ("data_coding", "data", "text", "encoding"),
    [
        (0x01, b"Hi!", "Hi!", "ascii"),
        (0x03, b"caf\xe9", "café", "latin1"),
        (0x06, "Привет".encode("iso8859_5"), "Привет", "cyrillic"),
        (0x07, "שלום".encode("iso8859_8"), "שלום", "hebrew"),
        (0x0A, "日本".encode("iso2022_jp"), "日本", "iso2022jp"),
        (0x0E, "한국".encode("euc_kr"), "한국", "euckr"),
        (0x10, b"Hi\x00", "Hi@", "gsm7"),  # general group, 7-bit, class 0 (flash)
        (0x18, "Ж".encode("utf-16-be"), "Ж", "ucs2"),  # general group, UCS2, class 0
        (0x1C, b"Hi", "Hi", "gsm7"),  # reserved alphabet: default alphabet
        (0xC0, b"Hi", "Hi", "gsm7"),  # message waiting, discard
        (0xD8, b"Hi", "Hi", "gsm7"),  # message waiting, store
        (0xE8, "Ж".encode("utf-16-be"), "Ж", "ucs2"),  # message waiting, store, UCS2
        (0xF0, b"\x02", "$", "gsm7"),  # class 0, 7-bit
        (0xF3, b"Hi", "Hi", "gsm7"),
    ],
)
def test_text_codings(data_coding: int, data: bytes, text: str, encoding: str) -> None:
    assert decode_text(data, data_coding) == DecodedText(text, encoding)


@pytest.mark.parametrize("data_coding", [0x02, 0x04, 0x14, 0xF4, 0xF5, 0xF6, 0xF7, 0xFF])
def test_binary_codings_keep_the_octets(data_coding: int) -> None:
    decoded = decode_text(b"\x00\xff\x1b", data_coding)
    assert decoded == DecodedText("", "binary", b"\x00\xff\x1b", False)


def test_compressed_data_is_not_text() -> None:
    assert decode_text(b"\x01\x02", 0x20) == DecodedText("", "compressed", b"\x01\x02")


def test_ascii_with_high_bit_is_lossy() -> None:
    decoded = decode_text(b"a\xe9", 0x01)
    assert decoded == DecodedText("a\ufffd", "ascii", None, True)


def test_hebrew_undefined_octet_is_lossy() -> None:
    decoded = decode_text(b"\xa1", 0x07)  # not assigned in ISO-8859-8
    assert decoded.lossy
    assert decoded.text == "\ufffd"


@pytest.mark.parametrize("data_coding", [0x05, 0x09, 0x0B, 0x0D, 0x0F, 0x80, 0xBF])
def test_unknown_coding_falls_back(data_coding: int) -> None:
    assert coding_name(data_coding) == "unknown"
    assert decode_text(b"Hi\x00", data_coding) == DecodedText("Hi@", "gsm7", None, False)
    assert decode_text(b"caf\xe9", data_coding) == DecodedText("café", "latin1", None, True)


@given(st.binary(max_size=300), st.integers(0, 255), st.booleans())
def test_decode_text_never_raises(data: bytes, data_coding: int, packed: bool) -> None:
    decoded = decode_text(data, data_coding, packed=packed)
    assert isinstance(decoded.text, str)
    decoded.text.encode("utf-8")
    assert (decoded.binary is not None) == (decoded.encoding in ("binary", "compressed"))
    if decoded.binary is not None:
        assert decoded.binary == data
        assert decoded.text == ""


@pytest.mark.parametrize("data_coding", [-1, 256, 10_000])
def test_decode_text_out_of_range_coding(data_coding: int) -> None:
    assert decode_text(b"Hi", data_coding).text == "Hi"


# --------------------------------------------------------------------- encode_text


def test_encode_text_prefers_gsm_then_ucs2() -> None:
    assert encode_text("Hello @ £") == (0x00, b"Hello \x00 \x01")
    assert encode_text("Hello `") == (0x08, "Hello `".encode("utf-16-be"))


@pytest.mark.parametrize(
    ("text", "data_coding", "expected"),
    [
        ("Hi", 0x01, b"Hi"),
        ("café", 0x03, b"caf\xe9"),
        ("€", 0xF0, b"\x1be"),
        ("Ж", 0x18, b"\x04\x16"),
        ("Ж", 0x06, "Ж".encode("iso8859_5")),
    ],
)
def test_encode_text_explicit(text: str, data_coding: int, expected: bytes) -> None:
    assert encode_text(text, data_coding) == (data_coding, expected)


@pytest.mark.parametrize(
    ("text", "data_coding"),
    [("é", 0x01), ("€", 0x03), ("`", 0x00), ("x", 0x02), ("x", 0x04), ("x", 0xF4), ("x", 0x05)],
)
def test_encode_text_refuses_what_cannot_be_represented(text: str, data_coding: int) -> None:
    with pytest.raises(LocalProtocolError):
        encode_text(text, data_coding)
