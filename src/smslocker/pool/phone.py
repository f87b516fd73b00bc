"""Phone numbers as the pool stores them: E.164, country, carrier and line type.

Everything here is pure (no I/O): :func:`normalise` turns what an operator typed into
:class:`NumberFacts` or raises :class:`InvalidNumber` with a reason a person can act on.
``phonenumbers`` supplies the facts; the operator's own country and carrier win where
given, but a country the number does not belong to is an error, not a silent override
(renters choose numbers by country).
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType, carrier

#: Line types a renter asking for ``mobile_only`` accepts. Many countries (US, CA, ...)
#: cannot tell fixed lines from mobiles by the number, hence fixed_line_or_mobile.
MOBILE_LINE_TYPES = frozenset({"mobile", "fixed_line_or_mobile"})


class InvalidNumber(ValueError):
    """The text is not a number the pool can hold; ``str()`` says why."""


@dataclass(frozen=True, slots=True)
class NumberFacts:
    """One number, normalised: ``e164`` with '+', ISO country, carrier (or None), line type."""

    e164: str
    country: str
    carrier: str | None
    line_type: str


def line_type_name(number_type: int) -> str:
    """``phonenumbers``' name for a line type, in lower case (``"fixed_line_or_mobile"``)."""
    name = PhoneNumberType.to_string(number_type)
    return str(name).lower() if name else "unknown"


def normalise(
    raw: str, *, country: str | None = None, carrier_name: str | None = None
) -> NumberFacts:
    """The facts of ``raw``; ``country`` (ISO 3166 alpha-2) reads national formats.

    Raises :class:`InvalidNumber` when the text does not parse, the number is not valid
    (not assigned in its country's numbering plan), or it does not belong to ``country``.
    """
    text = raw.strip()
    if not text:
        raise InvalidNumber("empty number")
    region = country.strip().upper() if country and country.strip() else None
    if region is not None and phonenumbers.country_code_for_region(region) == 0:
        raise InvalidNumber(f"unknown country {country!r}")
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidNumber(_parse_reason(error, text)) from None
    number_type = phonenumbers.number_type(parsed)
    own_region = phonenumbers.region_code_for_number(parsed)
    # number_type is UNKNOWN exactly when the number fits no pattern of its region: the
    # same test is_valid_number makes, without computing the type a second time.
    if own_region is None or number_type == PhoneNumberType.UNKNOWN:
        raise InvalidNumber(f"{text!r} is not a valid number")
    if region is not None and region != own_region:
        if not phonenumbers.is_valid_number_for_region(parsed, region):
            raise InvalidNumber(f"{text!r} is a number of {own_region}, not {region}")
        own_region = region  # shared calling codes: the operator knows which territory
    if not carrier_name:
        carrier_name = carrier.name_for_number(parsed, "en") or None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return NumberFacts(e164, own_region, carrier_name, line_type_name(number_type))


def _parse_reason(error: phonenumbers.NumberParseException, text: str) -> str:
    if error.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
        return f"{text!r} has no country code (give it in +E.164 form, or a country column)"
    return f"{text!r} is not a phone number ({error._msg})"


__all__ = [
    "MOBILE_LINE_TYPES",
    "InvalidNumber",
    "NumberFacts",
    "line_type_name",
    "normalise",
]
