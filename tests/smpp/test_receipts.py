"""Delivery receipts (SMPP.md §9)."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp.receipts import (
    DeliveryReceipt,
    format_receipt_text,
    is_receipt,
    normalise_message_id,
    parse_receipt,
)


def parse(
    text: str,
    *,
    receipted_message_id: str | None = None,
    message_state: int | None = None,
    network_error_code: bytes | None = None,
) -> DeliveryReceipt:
    return parse_receipt(
        text,
        receipted_message_id=receipted_message_id,
        message_state=message_state,
        network_error_code=network_error_code,
        source="447700900123",
        destination="Shop",
    )


# --------------------------------------------------------------------- is_receipt


@pytest.mark.parametrize(
    ("esm_class", "expected"),
    [
        (0x04, True),  # SMSC delivery receipt
        (0x44, True),  # receipt with UDHI
        (0x08, True),  # SME delivery acknowledgement
        (0x10, True),  # manual/user acknowledgement
        (0x20, True),  # intermediate notification
        (0x00, False),
        (0x40, False),  # UDHI alone: an MO long message
        (0x03, False),  # messaging mode bits only
        (0x18, False),  # conversation abort
        (0x80, False),
    ],
)
def test_is_receipt_tests_bits(esm_class: int, expected: bool) -> None:
    assert is_receipt(esm_class, False, False) is expected


def test_receipt_tlvs_alone_make_a_receipt() -> None:
    assert is_receipt(0x00, True, False)
    assert is_receipt(0x00, False, True)


# --------------------------------------------------------------------- vendor texts


def test_classic_layout() -> None:
    text = (
        "id:0123456789 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 "
        "stat:DELIVRD err:000 text:Hello world"
    )
    assert parse(text) == DeliveryReceipt(
        message_id="0123456789",
        state="DELIVRD",
        message_state=2,
        submitted=1,
        delivered=1,
        submit_date=datetime(2024, 1, 15, 12, 30),
        done_date=datetime(2024, 1, 15, 12, 31),
        error="000",
        network_error_code=None,
        text="Hello world",
        source="447700900123",
        destination="Shop",
        raw_text=text,
    )


def test_without_text_field() -> None:
    receipt = parse(
        "id:7220cbdb sub:001 dlvrd:000 submit date:2401151230 done date:2401151240 "
        "stat:UNDELIV err:001"
    )
    assert (receipt.message_id, receipt.state, receipt.message_state) == ("7220cbdb", "UNDELIV", 5)
    assert receipt.delivered == 0
    assert receipt.error == "001"
    assert receipt.text is None


def test_capital_text_key_and_seconds_in_dates() -> None:
    receipt = parse(
        "id:1234567890 sub:001 dlvrd:001 submit date:240115123045 done date:240115123112 "
        "stat:DELIVRD err:000 Text:Your code is 1234"
    )
    assert receipt.submit_date == datetime(2024, 1, 15, 12, 30, 45)
    assert receipt.done_date == datetime(2024, 1, 15, 12, 31, 12)
    assert receipt.text == "Your code is 1234"


def test_four_digit_years_and_lower_case_state() -> None:
    receipt = parse(
        "id:abc-123 sub:1 dlvrd:1 submit date:20240115123045 done date:20240115123112 "
        "stat:delivrd err:0"
    )
    assert receipt.submit_date == datetime(2024, 1, 15, 12, 30, 45)
    assert receipt.state == "DELIVRD"
    assert (receipt.submitted, receipt.delivered, receipt.error) == (1, 1, "0")


def test_twelve_digits_that_are_yyyymmddhhmm() -> None:
    receipt = parse("id:1 submit date:202401151230 done date:bad stat:DELIVRD")
    assert receipt.submit_date == datetime(2024, 1, 15, 12, 30)
    assert receipt.done_date is None


def test_upper_case_keys_and_extra_spaces() -> None:
    receipt = parse(
        "ID: 42  SUB:001  DLVRD:001  SUBMIT DATE: 2401151230  DONE DATE:2401151231  "
        "STAT: EXPIRED  ERR:027  TEXT: "
    )
    assert receipt.message_id == "42"
    assert receipt.state == "EXPIRED"
    assert receipt.message_state == 3
    assert receipt.submit_date == datetime(2024, 1, 15, 12, 30)
    assert receipt.error == "027"
    assert receipt.text == ""


def test_missing_keys_are_none() -> None:
    receipt = parse("id:99 stat:REJECTD")
    assert (receipt.message_id, receipt.state, receipt.message_state) == ("99", "REJECTD", 8)
    assert receipt.submitted is None
    assert receipt.submit_date is None
    assert receipt.error is None


def test_id_with_spaces_and_text_that_looks_like_keys() -> None:
    receipt = parse("id:12 34 sub:001 stat:DELIVRD err:000 text:stat:UNDELIV id:5")
    assert receipt.message_id == "12 34"
    assert receipt.state == "DELIVRD"
    assert receipt.text == "stat:UNDELIV id:5"


def test_long_state_words_are_normalised_and_odd_ones_kept() -> None:
    assert parse("id:1 stat:DELIVERED").state == "DELIVRD"
    assert parse("id:1 stat:UNDELIVERABLE").message_state == 5
    buffered = parse("id:1 stat:BUFFRED err:000")
    assert (buffered.state, buffered.message_state) == ("BUFFRED", None)


def test_tlvs_win_over_the_text() -> None:
    receipt = parse(
        "id:1234567890 stat:DELIVRD err:000",
        receipted_message_id="499602D2\x00",
        message_state=5,
        network_error_code=b"\x03\x00\x22",
    )
    assert receipt.message_id == "499602D2"
    assert (receipt.state, receipt.message_state) == ("UNDELIV", 5)
    assert receipt.network_error_code == b"\x03\x00\x22"


def test_unknown_message_state_tlv_keeps_the_text_word() -> None:
    receipt = parse("id:1 stat:DELIVRD", message_state=42)
    assert (receipt.state, receipt.message_state) == ("DELIVRD", 42)


def test_empty_tlv_id_falls_back_to_the_text() -> None:
    assert parse("id:77 stat:DELIVRD", receipted_message_id="").message_id == "77"


def test_garbage_gives_an_unknown_receipt() -> None:
    receipt = parse("\x00\x01 nonsense ::: id")
    assert (receipt.message_id, receipt.state, receipt.message_state) == ("", "UNKNOWN", None)
    assert receipt.raw_text == "\x00\x01 nonsense ::: id"


@given(
    st.text(),
    st.one_of(st.none(), st.text()),
    st.one_of(st.none(), st.integers(-1, 300)),
    st.one_of(st.none(), st.binary(max_size=3)),
)
def test_parse_receipt_never_raises(
    text: str, receipted: str | None, state: int | None, network: bytes | None
) -> None:
    receipt = parse(
        text, receipted_message_id=receipted, message_state=state, network_error_code=network
    )
    assert receipt.raw_text == text
    assert receipt.state


@given(
    message_id=st.text(alphabet="0123456789abcdefABCDEF-", min_size=1, max_size=20),
    state=st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "ENROUTE"]),
    submit=st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31)),
    seconds=st.booleans(),
    text=st.text(alphabet="abc XYZ:0123", max_size=30),
)
def test_format_then_parse(
    message_id: str, state: str, submit: datetime, seconds: bool, text: str
) -> None:
    submit = submit.replace(second=submit.second if seconds else 0, microsecond=0)
    formatted = format_receipt_text(
        message_id, state, submit_date=submit, done_date=submit, error=12, text=text
    )
    receipt = parse(formatted)
    assert receipt.message_id == message_id
    assert receipt.state == state
    assert receipt.submitted == 1
    assert receipt.delivered == (1 if state == "DELIVRD" else 0)
    assert receipt.error == "012"
    assert receipt.text == text[:20].strip()
    if seconds:
        formatted = format_receipt_text(
            message_id, state, submit_date=submit, done_date=submit, seconds=True
        )
    assert parse(formatted).submit_date == submit


def test_format_receipt_text_layout() -> None:
    text = format_receipt_text(
        "5F2A01",
        "DELIVRD",
        submit_date=datetime(2024, 1, 15, 12, 30, 45),
        done_date=datetime(2024, 1, 15, 12, 31),
        text="A very long original message text",
    )
    assert text == (
        "id:5F2A01 sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 "
        "stat:DELIVRD err:000 text:A very long original"
    )
    assert "text:" not in format_receipt_text(
        "1", "UNDELIV", submit_date=datetime(2024, 1, 1), done_date=datetime(2024, 1, 1), text=None
    )


# --------------------------------------------------------------------- message ids


def matches(first: str, second: str) -> bool:
    return bool(normalise_message_id(first) & normalise_message_id(second))


@pytest.mark.parametrize(
    ("submitted", "receipted"),
    [
        ("5F2A01", "6236673"),  # hex in submit_sm_resp, decimal in the receipt
        ("6236673", "5F2A01"),  # and the other way round
        ("123", "0000000123"),  # zero-padded to 10 digits
        ("7b", "0000000123"),
        ("abcdef", "ABCDEF"),
        ("msg-1", "MSG-1"),
        (" 42\x00", "42"),
    ],
)
def test_ids_that_match(submitted: str, receipted: str) -> None:
    assert matches(submitted, receipted)


@pytest.mark.parametrize(
    ("submitted", "receipted"), [("123", "124"), ("5F2A01", "5F2A02"), ("msg-1", "msg-2")]
)
def test_ids_that_do_not_match(submitted: str, receipted: str) -> None:
    assert not matches(submitted, receipted)


def test_normalise_message_id_variants() -> None:
    assert normalise_message_id("00FF") == {"00ff", "ff", "255"}
    assert normalise_message_id("0010") == {"0010", "10", "16"}
    assert normalise_message_id("") == {""}
