"""Health probes against a fake transmitter: who is probed, how probes settle, quarantine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pool_support import T0, add_numbers, number, number_row, us
from sqlalchemy import select, update

from smslocker.pool.health import (
    complete_probe,
    complete_probe_sync,
    fail_overdue_probes,
    probe_token,
    send_probes,
)
from smslocker.pool.transmitter import TransmitError
from smslocker.settings import PolicySettings
from smslocker.store.models import Number, Probe

POLICY = PolicySettings(probe_deadline_s=60, probe_failures_to_quarantine=3, quarantine_s=3600)


class FakeTransmitter:
    """Records what it is asked to send; refuses the destinations in ``refuse``."""

    def __init__(self, refuse: frozenset[str] = frozenset()) -> None:
        self.sent: list[tuple[str, str]] = []
        self.refuse = refuse

    async def submit(self, destination: str, text: str) -> None:
        if destination in self.refuse:
            raise TransmitError(f"{destination} refused")
        self.sent.append((destination, text))


async def probes(db: Any) -> list[Any]:
    async with db.read() as connection:
        return list((await connection.execute(select(Probe).order_by(Probe.id))).all())


async def echo(db: Any, text: str, at: Any) -> bool:
    """What ingest does with a probe's echo."""
    token = probe_token(text)
    assert token is not None
    async with db.write() as connection:
        return await complete_probe(connection, token, at)


def test_probe_tokens_are_found_in_texts() -> None:
    assert probe_token("smslocker probe 0123abcd") == "0123abcd"
    assert probe_token("fwd: smslocker probe deadbeefdeadbeef ok") == "deadbeefdeadbeef"
    assert probe_token("smslocker probe 12") is None
    assert probe_token("Your code is 123456") is None
    assert probe_token(None) is None


async def test_free_and_quarantined_numbers_are_probed_least_recently_first(database: Any) -> None:
    await add_numbers(
        database,
        [
            number_row(us(1), last_probe_at=T0 - timedelta(hours=1)),
            number_row(us(2)),
            number_row(us(3), state="QUARANTINE", last_probe_at=T0 - timedelta(hours=2)),
            number_row(us(4), state="RESERVED"),
            number_row(us(5), state="RETIRED"),
            number_row(us(6), connector="other"),
        ],
    )
    transmitter = FakeTransmitter()
    sent = await send_probes(database, transmitter, T0, POLICY, limit=3, connector="sim")
    assert [destination for destination, _text in transmitter.sent] == [us(2), us(3), us(1)]
    assert [probe_token(text) for _destination, text in transmitter.sent] == list(sent.sent)
    rows = await probes(database)
    assert {row.outcome for row in rows} == {"pending"}
    assert {row.deadline for row in rows} == {T0 + timedelta(seconds=60)}
    # A number with a probe pending gets no second one.
    again = await send_probes(database, FakeTransmitter(), T0, POLICY, connector="sim")
    assert again.sent == ()


async def test_a_probe_the_link_refused_does_not_count_against_the_number(database: Any) -> None:
    (number_id,) = await add_numbers(database, [number_row(us(1))])
    result = await send_probes(database, FakeTransmitter(refuse=frozenset({us(1)})), T0, POLICY)
    assert (result.sent, result.unsent) == ((), 1)
    assert [row.outcome for row in await probes(database)] == ["unsent"]
    late = T0 + timedelta(hours=1)
    assert (await fail_overdue_probes(database, late, POLICY)).failed == 0
    assert (await number(database, number_id)).probes_failed == 0


async def test_an_echo_within_the_deadline_settles_the_probe_ok(database: Any) -> None:
    (number_id,) = await add_numbers(database, [number_row(us(1), probe_failure_streak=2)])
    transmitter = FakeTransmitter()
    await send_probes(database, transmitter, T0, POLICY)
    ((_destination, text),) = transmitter.sent
    assert await echo(database, text, T0 + timedelta(milliseconds=1500))
    assert not await echo(database, text, T0 + timedelta(seconds=2))  # a redelivered echo
    row = await number(database, number_id)
    assert (row.probes_ok, row.probe_failure_streak, row.last_probe_ms) == (1, 0, 1500)
    (probe,) = await probes(database)
    assert (probe.outcome, probe.arrived_at) == ("ok", T0 + timedelta(milliseconds=1500))


async def test_a_late_echo_counts_as_a_failure(database: Any) -> None:
    (number_id,) = await add_numbers(database, [number_row(us(1))])
    transmitter = FakeTransmitter()
    await send_probes(database, transmitter, T0, POLICY)
    assert await echo(database, transmitter.sent[0][1], T0 + timedelta(seconds=61))
    row = await number(database, number_id)
    assert (row.probes_ok, row.probes_failed, row.probe_failure_streak) == (0, 1, 1)


async def test_unknown_tokens_match_nothing(database: Any) -> None:
    async with database.write() as connection:
        assert not await complete_probe(connection, "0123456789abcdef", T0)


async def test_the_sync_twin_settles_a_probe_inside_run_write(database: Any) -> None:
    (number_id,) = await add_numbers(database, [number_row(us(1))])
    transmitter = FakeTransmitter()
    await send_probes(database, transmitter, T0, POLICY)
    token = probe_token(transmitter.sent[0][1])
    assert token is not None
    at = T0 + timedelta(milliseconds=250)
    assert await database.run_write(lambda c: complete_probe_sync(c, token, at))
    assert not await database.run_write(lambda c: complete_probe_sync(c, token, at))
    row = await number(database, number_id)
    assert (row.probes_ok, row.last_probe_ms) == (1, 250)


async def test_repeated_failures_quarantine_a_free_number(database: Any) -> None:
    (number_id,) = await add_numbers(database, [number_row(us(1))])
    now = T0
    for round_ in range(3):
        await send_probes(database, FakeTransmitter(), now, POLICY)
        now += timedelta(seconds=61)
        result = await fail_overdue_probes(database, now, POLICY)
        assert (result.failed, result.quarantined) == (1, 1 if round_ == 2 else 0)
    row = await number(database, number_id)
    assert (row.state, row.state_until) == ("QUARANTINE", now + timedelta(seconds=3600))
    assert (row.probes_failed, row.probe_failure_streak) == (3, 3)


async def test_a_success_breaks_the_streak(database: Any) -> None:
    (number_id,) = await add_numbers(database, [number_row(us(1))])
    now = T0
    for outcome in ("fail", "fail", "ok", "fail", "fail"):
        transmitter = FakeTransmitter()
        await send_probes(database, transmitter, now, POLICY)
        if outcome == "ok":
            await echo(database, transmitter.sent[0][1], now + timedelta(seconds=1))
        now += timedelta(seconds=61)
        await fail_overdue_probes(database, now, POLICY)
    row = await number(database, number_id)
    assert (row.state, row.probe_failure_streak, row.probes_failed) == ("FREE", 2, 4)


@pytest.mark.parametrize("state", ["RESERVED", "IN_USE"])
async def test_a_rented_number_is_never_quarantined_by_a_probe(database: Any, state: str) -> None:
    (number_id,) = await add_numbers(database, [number_row(us(1), probe_failure_streak=2)])
    await send_probes(database, FakeTransmitter(), T0, POLICY)
    async with database.write() as connection:  # rented while its probe was out
        await connection.execute(update(Number).values(state=state))
    result = await fail_overdue_probes(database, T0 + timedelta(seconds=61), POLICY)
    assert (result.failed, result.quarantined) == (1, 0)
    assert (await number(database, number_id)).state == state


async def test_a_cooling_number_stays_blocked_until_its_window_closes(database: Any) -> None:
    busy_until = T0 + timedelta(days=2)
    (number_id,) = await add_numbers(
        database,
        [number_row(us(1), state="QUARANTINE", probe_failure_streak=2, busy_until=busy_until)],
    )
    await send_probes(database, FakeTransmitter(), T0, POLICY)
    async with database.write() as connection:
        await connection.execute(update(Number).values(state="COOLDOWN"))
    result = await fail_overdue_probes(database, T0 + timedelta(seconds=61), POLICY)
    assert result.quarantined == 1
    row = await number(database, number_id)
    assert (row.state, row.state_until) == ("QUARANTINE", busy_until)
