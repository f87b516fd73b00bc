"""The pure parts of ingest: destinations, message time, window matching, batches, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from routing_support import T0, inbound

from smslocker.routing.batch import first_of_each_key, route_rows, tally
from smslocker.routing.dedup import dedup_key
from smslocker.routing.prepare import Preparer
from smslocker.routing.route import (
    RentalWindow,
    message_time,
    normalise_destination,
    pick_rental,
    windows_by_number,
)

SKEW, AGE = timedelta(minutes=5), timedelta(days=7)


@pytest.mark.parametrize(
    ("address", "e164"),
    [
        ("14155550100", "+14155550100"),
        ("+14155550100", "+14155550100"),
        ("Google", "Google"),
        ("12345x", "12345x"),
        ("٤١٥", "٤١٥"),  # not ASCII digits: left alone
    ],
)
def test_destinations_become_e164(address: str, e164: str) -> None:
    assert normalise_destination(address) == e164


def test_message_time_rules() -> None:
    received = T0
    assert message_time(received, None, max_skew=SKEW, max_age=AGE) == received
    earlier = received - timedelta(minutes=3)
    assert message_time(received, earlier, max_skew=SKEW, max_age=AGE) == earlier
    ahead = received + timedelta(minutes=1)  # trusted, but not in our future
    assert message_time(received, ahead, max_skew=SKEW, max_age=AGE) == received
    wild = received + timedelta(hours=2)
    assert message_time(received, wild, max_skew=SKEW, max_age=AGE) == received
    ancient = received - timedelta(days=8)
    assert message_time(received, ancient, max_skew=SKEW, max_age=AGE) == received


@given(
    received=st.datetimes(timezones=st.just(UTC), min_value=datetime(2001, 1, 1)),
    offset=st.one_of(st.none(), st.timedeltas(timedelta(days=-30), timedelta(days=30))),
)
def test_message_time_is_never_after_received_time(
    received: datetime, offset: timedelta | None
) -> None:
    stamp = None if offset is None else received + offset
    moment = message_time(received, stamp, max_skew=SKEW, max_age=AGE)
    assert received - AGE <= moment <= received


def window(rental: str, number: str, start_min: int, end_min: int) -> RentalWindow:
    start, end = T0 + timedelta(minutes=start_min), T0 + timedelta(minutes=end_min)
    return RentalWindow(rental, 1, number, 1, "active", start, end)


def test_pick_rental_takes_the_window_containing_the_time() -> None:
    grouped = windows_by_number(
        [window("a", "+1", 0, 10), window("b", "+1", 20, 30), window("c", "+2", 0, 30)]
    )
    at = lambda minutes: T0 + timedelta(minutes=minutes)  # noqa: E731
    assert pick_rental(grouped["+1"], at(5)).rental_id == "a"  # type: ignore[union-attr]
    assert pick_rental(grouped["+1"], at(10)).rental_id == "a"  # type: ignore[union-attr]
    assert pick_rental(grouped["+1"], at(15)) is None
    assert pick_rental(grouped["+1"], at(20)).rental_id == "b"  # type: ignore[union-attr]
    assert pick_rental(grouped["+1"], at(-1)) is None
    assert pick_rental(grouped["+1"], at(31)) is None
    assert pick_rental(None, at(5)) is None


def prepared(*messages: object) -> list:  # type: ignore[type-arg]
    preparer = Preparer(max_skew_s=300, max_age_s=7 * 86400)
    return [preparer.prepare(message) for message in messages]  # type: ignore[arg-type]


def test_routing_and_tally_of_a_batch() -> None:
    rows = prepared(
        inbound("1", "a", received_at=T0 + timedelta(minutes=1)),
        inbound("1", "b", received_at=T0 + timedelta(minutes=2)),
        inbound("1", "c", received_at=T0 + timedelta(minutes=15)),
        inbound("2", "d", received_at=T0 + timedelta(minutes=1)),
        inbound("2", "smslocker probe abcdefgh12", received_at=T0 + timedelta(minutes=1)),
    )
    route_rows(rows[:4], [window("a", "+1", 0, 10), window("c", "+2", 0, 30)])
    assert [row.rental_id for row in rows] == ["a", "a", None, "c", None]
    counts = tally(rows)
    assert counts.rental_counts() == [
        ("a", 2, T0 + timedelta(minutes=1)),
        ("c", 1, T0 + timedelta(minutes=1)),
    ]
    # The probe is not counted here; "+1" got routed messages, "+2" only an unmatched one.
    assert counts.number_counts() == [("+1", 3, True), ("+2", 1, True)]


def test_first_of_each_key_keeps_arrival_order() -> None:
    rows = prepared(inbound("1", "x"), inbound("1", "y"), inbound("1", "x"), inbound("1", "z"))
    assert [row.text for row in first_of_each_key(rows).values()] == ["x", "y", "z"]


def test_dedup_keys_are_32_hex_characters_and_tell_text_from_binary() -> None:
    common = {
        "connector": "c",
        "source": "s",
        "destination": "+1",
        "data_coding": 4,
        "smsc_timestamp": None,
        "parts": 1,
    }
    as_text = dedup_key(text="ab", binary=None, **common)  # type: ignore[arg-type]
    as_binary = dedup_key(text="", binary=b"\xab", **common)  # type: ignore[arg-type]
    assert len(as_text) == 32
    assert int(as_text, 16) >= 0
    assert as_text != as_binary
