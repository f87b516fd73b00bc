"""Selection: which number a rental gets, on both databases."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pool_support import T0, add_numbers, number_row, us

from smslocker.pool.selection import Criteria, pick_number
from smslocker.pool.tags import mark_failing, record_use
from smslocker.settings import PolicySettings

POLICY = PolicySettings(service_rotation_s=3600)


async def pick(db: Any, criteria: Criteria, now: Any = T0) -> str | None:
    picked = await db.run_write(lambda connection: pick_number(connection, criteria, now, POLICY))
    return None if picked is None else picked.e164


async def test_least_recently_used_first(database: Any) -> None:
    await add_numbers(
        database,
        [
            number_row(us(1), last_used_at=T0 - timedelta(hours=1)),
            number_row(us(2), last_used_at=T0 - timedelta(hours=3)),
            number_row(us(3), last_used_at=T0 - timedelta(hours=2)),
        ],
    )
    assert await pick(database, Criteria()) == us(2)


async def test_only_free_numbers_whose_window_has_closed(database: Any) -> None:
    await add_numbers(
        database,
        [
            number_row(us(1), state="RESERVED"),
            number_row(us(2), state="COOLDOWN"),
            number_row(us(3), state="QUARANTINE"),
            number_row(us(4), busy_until=T0 + timedelta(seconds=1)),
            number_row(us(5), busy_until=T0),  # the window's last instant is still its own
        ],
    )
    assert await pick(database, Criteria()) is None
    assert await pick(database, Criteria(), now=T0 + timedelta(seconds=2)) in {us(4), us(5)}


async def test_filters_country_carrier_and_mobile_only(database: Any) -> None:
    old, recent = T0 - timedelta(days=1), T0 - timedelta(hours=1)
    await add_numbers(
        database,
        [
            number_row(us(1), last_used_at=old - timedelta(hours=1), line_type="voip"),
            number_row(
                "+4915112345678",
                country="DE",
                carrier="Vodafone",
                line_type="mobile",
                last_used_at=recent,
            ),
            number_row(
                "+4915212345678",
                country="DE",
                carrier="Telekom",
                line_type="mobile",
                last_used_at=recent,
            ),
            number_row("+4930123456", country="DE", line_type="fixed_line", last_used_at=old),
        ],
    )
    assert await pick(database, Criteria()) == us(1)
    assert await pick(database, Criteria(mobile_only=True)) in {"+4915112345678", "+4915212345678"}
    assert await pick(database, Criteria(country="de")) == "+4930123456"
    assert await pick(database, Criteria(country="DE", mobile_only=True)) in {
        "+4915112345678",
        "+4915212345678",
    }
    assert await pick(database, Criteria(carrier="Telekom")) == "+4915212345678"
    assert await pick(database, Criteria(country="FR")) is None


async def test_a_number_used_for_the_service_rests_for_the_rotation_period(database: Any) -> None:
    first, _second = await add_numbers(
        database,
        [number_row(us(1)), number_row(us(2), last_used_at=T0 - timedelta(minutes=1))],
    )
    await database.run_write(
        lambda connection: record_use(connection, first, "google", T0 - timedelta(minutes=30))
    )
    # Not for google (used 30 min ago, rotation 1 h) ...
    assert await pick(database, Criteria(service="google")) == us(2)
    # ... but for anyone else, and for google once the rotation period is over.
    assert await pick(database, Criteria(service="telegram")) == us(1)
    assert await pick(database, Criteria(service="google"), now=T0 + timedelta(hours=1)) == us(1)


async def test_a_number_failing_for_a_service_is_never_offered_for_it(database: Any) -> None:
    (only,) = await add_numbers(database, [number_row(us(1))])
    await mark_failing(database, only, "whatsapp", T0 - timedelta(days=365))
    assert await pick(database, Criteria(service="whatsapp"), now=T0 + timedelta(days=999)) is None
    assert await pick(database, Criteria(service="google")) == us(1)


async def test_an_explicit_number_must_be_free_and_past_its_window(database: Any) -> None:
    await add_numbers(
        database,
        [
            number_row(us(1)),
            number_row(us(2), state="COOLDOWN"),
            number_row(us(3), busy_until=T0 + timedelta(seconds=5)),
        ],
    )
    assert await pick(database, Criteria(number=us(1))) == us(1)
    assert await pick(database, Criteria(number=us(2))) is None
    assert await pick(database, Criteria(number=us(3))) is None
    assert await pick(database, Criteria(number=us(9))) is None


async def test_an_operator_can_clear_a_failing_mark(database: Any) -> None:
    from smslocker.pool.tags import clear_failing

    (only,) = await add_numbers(database, [number_row(us(1))])
    await mark_failing(database, only, "whatsapp", T0)
    await mark_failing(database, only, "whatsapp", T0)  # reported twice: still one tag
    assert await pick(database, Criteria(service="whatsapp")) is None
    assert await clear_failing(database, only, "whatsapp")
    assert not await clear_failing(database, only, "telegram")
    assert await pick(database, Criteria(service="whatsapp")) == us(1)
