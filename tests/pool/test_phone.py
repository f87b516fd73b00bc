"""Normalising what operators type into E.164 with country, carrier and line type."""

from __future__ import annotations

import pytest

from smslocker.pool.phone import MOBILE_LINE_TYPES, InvalidNumber, line_type_name, normalise


@pytest.mark.parametrize(
    ("raw", "country", "e164", "region", "line_type"),
    [
        ("+14155550100", None, "+14155550100", "US", "fixed_line_or_mobile"),
        ("(415) 555-0100", "us", "+14155550100", "US", "fixed_line_or_mobile"),
        (" +49 151 12345678 ", None, "+4915112345678", "DE", "mobile"),
        ("030 123456", "DE", "+4930123456", "DE", "fixed_line"),
        ("07400 123456", "GB", "+447400123456", "GB", "mobile"),
        ("+1 800 555 0199", None, "+18005550199", "US", "toll_free"),
        ("+33 6 12 34 56 78", "", "+33612345678", "FR", "mobile"),
    ],
)
def test_valid_numbers(
    raw: str, country: str | None, e164: str, region: str, line_type: str
) -> None:
    facts = normalise(raw, country=country)
    assert (facts.e164, facts.country, facts.line_type) == (e164, region, line_type)


def test_carrier_comes_from_phonenumbers_unless_given() -> None:
    assert normalise("+4915112345678").carrier is not None
    assert normalise("+4915112345678", carrier_name="Acme").carrier == "Acme"
    assert normalise("+14155550100").carrier is None  # NANP numbers are ported freely


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("", None, "empty"),
        ("   ", "US", "empty"),
        ("hello", None, "not a phone number"),
        ("4155550100", None, "no country code"),
        ("+1 415 555", None, "not a valid number"),
        ("+447700900123", None, "not a valid number"),  # Ofcom's drama range
        ("+14155550100", "DE", "a number of US, not DE"),
        ("+14155550100", "ZZ", "unknown country"),
    ],
)
def test_invalid_numbers_say_why(raw: str, country: str | None, reason: str) -> None:
    with pytest.raises(InvalidNumber, match=reason):
        normalise(raw, country=country)


def test_line_type_names_are_phonenumbers_names_in_lower_case() -> None:
    assert line_type_name(6) == "voip"
    assert line_type_name(99) == "unknown"
    assert sorted(MOBILE_LINE_TYPES) == ["fixed_line_or_mobile", "mobile"]
