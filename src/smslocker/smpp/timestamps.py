"""SMPP time strings ``YYMMDDhhmmsstnnp`` (SMPP.md §10).

Absolute times carry their UTC offset in quarter hours; relative times
(``p = 'R'``) count years, months, days, hours, minutes and seconds from the
SMSC's "now". Nothing here reads a clock: a caller who wants a relative time
anchored passes ``now``.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

from smslocker.smpp.errors import DecodeError, LocalProtocolError

__all__ = [
    "format_relative",
    "format_smpp_time",
    "parse_smpp_time",
    "parse_smsc_timestamp",
]

ESME_RINVSCHED = 0x61

# YY MM DD hh mm ss t nn p. [0-9], not \d: \d also matches other scripts' digits.
_TIME = re.compile(
    r"([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9])([0-9]{2})([-+R])"
)
_QUARTER_HOUR = timedelta(minutes=15)


def parse_smpp_time(value: str, *, now: datetime | None = None) -> datetime | timedelta | None:
    """Parse a time field (schedule_delivery_time, validity_period, final_date).

    * ``""`` (the NULL time) gives None.
    * An absolute time gives an aware datetime with its own offset; the tenths
      digit becomes microseconds; ``YY`` is 20YY (§10).
    * A relative time gives a timedelta in which a year counts 365 days and a
      month 30 — an approximation, since without a date there is no calendar.
      With ``now`` it gives ``now`` plus the period instead, years and months
      added on the calendar (31 January + 1 month = 28/29 February). The ``tnn``
      digits must be 000 by the spec; other values are ignored, not refused.

    Raises :class:`DecodeError` with status ESME_RINVSCHED (0x61) for anything
    else; a caller checking validity_period may re-raise with 0x62.
    """
    if value == "":
        return None
    match = _TIME.fullmatch(value)
    if match is None:
        raise DecodeError(f"malformed SMPP time {value!r}", status=ESME_RINVSCHED)
    years, months, days, hours, minutes, seconds, tenths, quarters = (
        int(group) for group in match.groups()[:8]
    )
    sign = match.group(9)
    if sign == "R":
        period = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        if now is None:
            return timedelta(days=365 * years + 30 * months) + period
        try:
            return _add_months(now, 12 * years + months) + period
        except (OverflowError, ValueError):
            raise DecodeError(
                f"relative time {value!r} runs past year 9999", status=ESME_RINVSCHED
            ) from None
    if quarters > 48:
        raise DecodeError(f"UTC offset out of range in {value!r}", status=ESME_RINVSCHED)
    offset = quarters * _QUARTER_HOUR
    try:
        return datetime(
            2000 + years,
            months,
            days,
            hours,
            minutes,
            seconds,
            tenths * 100_000,
            tzinfo=timezone(-offset if sign == "-" else offset),
        )
    except ValueError:
        raise DecodeError(f"invalid date in SMPP time {value!r}", status=ESME_RINVSCHED) from None


def _add_months(moment: datetime, months: int) -> datetime:
    year, month_index = divmod(moment.month - 1 + months, 12)
    year += moment.year
    month = month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def parse_smsc_timestamp(value: str | None) -> datetime | None:
    """Lenient absolute-time parser for times an SMSC reports; never raises.

    Returns an aware datetime, or None for NULL, relative or malformed values
    (surrounding NULs and whitespace are ignored).
    """
    if not value:
        return None
    try:
        parsed = parse_smpp_time(value.strip("\x00 \t\r\n"))
    except DecodeError:
        return None
    return parsed if isinstance(parsed, datetime) else None


def format_smpp_time(moment: datetime) -> str:
    """Format an aware datetime as an absolute SMPP time.

    The offset is rounded to whole quarter hours and the wall time shifted to
    match, so the instant is kept (to the tenth of a second, truncated). An
    offset beyond ±12 h, outside the spec's 00-48 range, is written as UTC.
    Raises :class:`LocalProtocolError` for a naive datetime or a year outside
    2000-2099.
    """
    offset = moment.utcoffset()
    if offset is None:
        raise LocalProtocolError("an SMPP time needs an aware datetime (with tzinfo)")
    quarters = round(offset / _QUARTER_HOUR)
    if abs(quarters) > 48:
        quarters = 0
    local = moment.astimezone(timezone(quarters * _QUARTER_HOUR))
    if not 2000 <= local.year <= 2099:
        raise LocalProtocolError(f"year {local.year} cannot be written as YY (2000-2099)")
    return (
        f"{local.year % 100:02d}{local.month:02d}{local.day:02d}"
        f"{local.hour:02d}{local.minute:02d}{local.second:02d}"
        f"{local.microsecond // 100_000}{abs(quarters):02d}{'-' if quarters < 0 else '+'}"
    )


def format_relative(period: timedelta) -> str:
    """Format a timedelta as a relative SMPP time (``...000R``).

    Whole days are written as years of 365 days, months of 30 and days, so that
    :func:`parse_smpp_time` without ``now`` gives the same timedelta back;
    fractions of a second are dropped. Raises :class:`LocalProtocolError` for a
    negative period or one of 100 years or more.
    """
    if period < timedelta(0):
        raise LocalProtocolError("a relative SMPP time cannot be negative")
    years, remainder = divmod(period.days, 365)
    months, days = divmod(remainder, 30)
    if years > 99:
        raise LocalProtocolError("a relative SMPP time must be under 100 years")
    hours, rest = divmod(period.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{years:02d}{months:02d}{days:02d}{hours:02d}{minutes:02d}{seconds:02d}000R"
