"""SMPP time strings (SMPP.md §10)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.smpp.errors import DecodeError, LocalProtocolError
from smslocker.smpp.timestamps import (
    format_relative,
    format_smpp_time,
    parse_smpp_time,
    parse_smsc_timestamp,
)

UTC_PLUS_1 = timezone(timedelta(hours=1))


def test_absolute_worked_example() -> None:
    parsed = parse_smpp_time("240115123000004+")
    assert parsed == datetime(2024, 1, 15, 12, 30, tzinfo=UTC_PLUS_1)
    assert isinstance(parsed, datetime)
    assert parsed.utcoffset() == timedelta(hours=1)
    assert parsed.astimezone(UTC).hour == 11


def test_absolute_with_tenths_and_negative_offset() -> None:
    parsed = parse_smpp_time("991231235959922-")
    assert parsed == datetime(
        2099, 12, 31, 23, 59, 59, 900_000, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("000001000000000R", timedelta(days=1)),
        ("000000001000000R", timedelta(minutes=10)),
        ("000000000030000R", timedelta(seconds=30)),
        ("010203040506000R", timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6)),
    ],
)
def test_relative_without_now_is_a_timedelta(value: str, expected: timedelta) -> None:
    assert parse_smpp_time(value) == expected


def test_relative_with_now_uses_the_calendar() -> None:
    now = datetime(2024, 1, 31, 10, 0, tzinfo=UTC)
    assert parse_smpp_time("000100000000000R", now=now) == datetime(2024, 2, 29, 10, 0, tzinfo=UTC)
    assert parse_smpp_time("010000000000000R", now=now) == datetime(2025, 1, 31, 10, 0, tzinfo=UTC)
    assert parse_smpp_time("000001000000000R", now=now) == datetime(2024, 2, 1, 10, 0, tzinfo=UTC)
    # now only anchors relative times.
    assert parse_smpp_time("240115123000004+", now=now) == datetime(
        2024, 1, 15, 12, 30, tzinfo=UTC_PLUS_1
    )


def test_null_time_is_none() -> None:
    assert parse_smpp_time("") is None


@pytest.mark.parametrize(
    "value",
    [
        "24011512300000+",  # 15 characters
        "2401151230000004+",  # 17 characters
        "240115123000004X",  # unknown sign
        "241315123000004+",  # month 13
        "240230123000004+",  # 30 February
        "240115250000004+",  # hour 25
        "240115123000049+",  # offset above 48 quarter hours
        "24O115123000004+",  # letter O
        "\uff1240115123000004+",  # a full-width digit two
        " 40115123000004+",
        "\x00",
    ],
)
def test_malformed_times_raise_invalid_schedule(value: str) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_smpp_time(value)
    assert caught.value.status == 0x61
    assert parse_smsc_timestamp(value) is None


def test_relative_overflow_with_now_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        parse_smpp_time("990000000000000R", now=datetime(9950, 1, 1))


def test_lenient_smsc_timestamp() -> None:
    assert parse_smsc_timestamp("240115123000004+\x00") == datetime(
        2024, 1, 15, 12, 30, tzinfo=UTC_PLUS_1
    )
    assert parse_smsc_timestamp(None) is None
    assert parse_smsc_timestamp("") is None
    assert parse_smsc_timestamp("000001000000000R") is None  # relative: no message time


@given(st.text(max_size=20))
def test_parsers_never_raise_anything_else(value: str) -> None:
    with contextlib.suppress(DecodeError):
        parse_smpp_time(value)
    result = parse_smsc_timestamp(value)
    assert result is None or result.tzinfo is not None


def test_format_worked_example() -> None:
    assert format_smpp_time(datetime(2024, 1, 15, 12, 30, tzinfo=UTC_PLUS_1)) == (
        "240115123000004+"
    )
    moment = datetime(2030, 6, 1, 0, 0, 1, 250_000, tzinfo=timezone(-timedelta(hours=3)))
    assert format_smpp_time(moment) == "300601000001212-"


def test_format_rounds_the_offset_and_keeps_the_instant() -> None:
    odd = timezone(timedelta(hours=1, minutes=7))  # rounds to +01:00
    moment = datetime(2024, 1, 15, 12, 37, tzinfo=odd)
    formatted = format_smpp_time(moment)
    assert formatted == "240115123000004+"
    assert parse_smpp_time(formatted) == moment


def test_format_writes_offsets_beyond_12_hours_as_utc() -> None:
    kiribati = timezone(timedelta(hours=14))
    formatted = format_smpp_time(datetime(2024, 1, 15, 14, 0, tzinfo=kiribati))
    assert formatted == "240115000000000+"


@pytest.mark.parametrize(
    "moment",
    [datetime(2024, 1, 1), datetime(1999, 12, 31, tzinfo=UTC), datetime(2100, 1, 1, 1, tzinfo=UTC)],
)
def test_format_refuses_naive_and_out_of_range(moment: datetime) -> None:
    with pytest.raises(LocalProtocolError):
        format_smpp_time(moment)


@given(
    st.datetimes(datetime(2000, 1, 2), datetime(2099, 12, 30)),
    st.integers(-48, 48),
    st.integers(0, 9),
)
def test_absolute_round_trip(moment: datetime, quarters: int, tenths: int) -> None:
    zone = timezone(timedelta(minutes=15 * quarters))
    moment = moment.replace(microsecond=tenths * 100_000, tzinfo=zone)
    parsed = parse_smpp_time(format_smpp_time(moment))
    assert parsed == moment
    assert isinstance(parsed, datetime)
    assert parsed.utcoffset() == moment.utcoffset()


@given(st.timedeltas(timedelta(0), timedelta(days=365 * 100 - 1)))
def test_relative_round_trip(period: timedelta) -> None:
    period -= timedelta(microseconds=period.microseconds)
    formatted = format_relative(period)
    assert formatted.endswith("000R")
    assert parse_smpp_time(formatted) == period


def test_format_relative_examples_and_limits() -> None:
    assert format_relative(timedelta(days=1)) == "000001000000000R"
    assert format_relative(timedelta(minutes=10)) == "000000001000000R"
    assert format_relative(timedelta(days=400, seconds=1.5)) == "010105000001000R"
    with pytest.raises(LocalProtocolError):
        format_relative(timedelta(seconds=-1))
    with pytest.raises(LocalProtocolError):
        format_relative(timedelta(days=365 * 100))
