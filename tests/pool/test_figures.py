"""Pool health figures per connector, per carrier, per number."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pool_support import T0, add_numbers, number_row, us
from sqlalchemy import insert

from smslocker.pool.figures import NONE, number_figures, pool_figures
from smslocker.store.models import Account, Probe, Rental


def probe(
    number_id: int, token: str, outcome: str, ms: int | None = None, **values: Any
) -> dict[str, Any]:
    sent_at = values.pop("sent_at", T0)
    return {
        "number_id": number_id,
        "destination": "+1",
        "token": token,
        "connector": None,
        "sent_at": sent_at,
        "deadline": sent_at + timedelta(seconds=60),
        "arrived_at": None if ms is None else sent_at + timedelta(milliseconds=ms),
        "outcome": outcome,
    }


def rental(rental_id: str, number_id: int, messages: int, started_at: Any = T0) -> dict[str, Any]:
    return {
        "id": rental_id,
        "account_id": 1,
        "number_id": number_id,
        "number": "+1",
        "status": "completed",
        "started_at": started_at,
        "expires_at": started_at + timedelta(minutes=10),
        "window_end": started_at + timedelta(minutes=11),
        "messages_count": messages,
        "price": 0,
        "refunded": 0,
    }


async def test_figures_per_pool_connector_carrier_and_number(database: Any) -> None:
    a, b, c = await add_numbers(
        database,
        [
            number_row(us(1), connector="smsc-a", carrier="Orange"),
            number_row(us(2), connector="smsc-a", carrier="Vodafone", state="QUARANTINE"),
            number_row(us(3), connector="smsc-b", carrier=None),
        ],
    )
    async with database.write() as connection:
        await connection.execute(insert(Account).values(id=1, name="x", created_at=T0))
        await connection.execute(
            insert(Probe),
            [
                probe(a, "t1", "ok", 100),
                probe(a, "t2", "ok", 300),
                probe(b, "t3", "failed"),
                probe(b, "t4", "failed"),
                probe(c, "t5", "ok", 200),
                probe(c, "t6", "pending"),
                probe(a, "t7", "ok", 900, sent_at=T0 - timedelta(days=2)),
            ],
        )
        await connection.execute(
            insert(Rental),
            [rental("r1", a, 2), rental("r2", a, 1), rental("r3", c, 0)],
        )
    figures = await pool_figures(database, since=T0 - timedelta(hours=1))
    pool = figures.pool
    assert (pool.numbers, pool.by_state) == (3, {"FREE": 2, "QUARANTINE": 1})
    assert (pool.probes_ok, pool.probes_failed) == (3, 2)
    assert pool.probe_success_rate == 3 / 5
    assert pool.median_arrival_ms == 200
    assert (pool.rentals, pool.messages, pool.sms_per_rental) == (3, 3, 1.0)
    smsc_a = figures.by_connector["smsc-a"]
    assert (smsc_a.numbers, smsc_a.probe_success_rate, smsc_a.median_arrival_ms) == (2, 0.5, 200)
    assert smsc_a.sms_per_rental == 1.5
    assert figures.by_carrier["Vodafone"].probe_success_rate == 0.0
    assert figures.by_carrier[NONE].as_dict()["sms_per_rental"] == 0.0
    # Without a window, the old probe counts too.
    assert (await pool_figures(database)).pool.probes_ok == 4
    one = await number_figures(database, a)
    assert one is not None
    assert (one.probes_ok, one.median_arrival_ms, one.rentals, one.sms_per_rental) == (
        3,
        300,
        2,
        1.5,
    )
    assert await number_figures(database, 999) is None


async def test_an_empty_pool_has_no_rates(database: Any) -> None:
    figures = await pool_figures(database)
    assert figures.pool.as_dict() == {
        "numbers": 0,
        "by_state": {},
        "probes_ok": 0,
        "probes_failed": 0,
        "probe_success_rate": None,
        "median_arrival_ms": None,
        "rentals": 0,
        "messages": 0,
        "sms_per_rental": None,
    }
    assert figures.by_connector == {}
