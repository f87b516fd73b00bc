"""The lifecycle table applied to stored numbers as compare-and-set updates."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pool_support import T0, add_numbers, number, number_row, us

from smslocker.pool.lifecycle import TRANSITIONS, NumberEvent, NumberState
from smslocker.pool.transitions import TARGET, apply_event
from smslocker.store.models import Number

S, E = NumberState, NumberEvent


def test_every_event_has_one_target_state() -> None:
    for (state, event), to in TRANSITIONS.items():
        assert TARGET[event] is to, (state, event)


async def test_a_move_applies_only_from_the_tables_source_states(database: Any) -> None:
    free, cooling = await add_numbers(
        database, [number_row(us(1)), number_row(us(2), state="COOLDOWN")]
    )
    later = T0 + timedelta(minutes=1)
    moved = await database.run_write(
        lambda connection: apply_event(
            connection, E.RENT, later, Number.id.in_([free, cooling]), last_used_at=later
        )
    )
    assert moved == 1
    rented, resting = await number(database, free), await number(database, cooling)
    assert (rented.state, rented.state_since, rented.last_used_at) == ("RESERVED", later, later)
    assert resting.state == "COOLDOWN"


async def test_only_from_narrows_the_sources(database: Any) -> None:
    ids = await add_numbers(database, [number_row(us(1)), number_row(us(2), state="IN_USE")])
    moved = await database.run_write(
        lambda connection: apply_event(
            connection, E.QUARANTINE, T0, Number.id.in_(ids), only_from=[S.FREE, S.COOLDOWN]
        )
    )
    assert moved == 1
    assert [(await number(database, i)).state for i in ids] == ["QUARANTINE", "IN_USE"]


async def test_retired_numbers_never_move_again(database: Any) -> None:
    (retired,) = await add_numbers(database, [number_row(us(1), state="RETIRED")])
    for event in E:
        moved = await database.run_write(
            lambda connection, event=event: apply_event(connection, event, T0, Number.id == retired)
        )
        assert moved == 0


@pytest.mark.parametrize("racers", [8])
async def test_concurrent_moves_of_one_number_succeed_once(database: Any, racers: int) -> None:
    (only,) = await add_numbers(database, [number_row(us(1))])

    async def rent_it() -> int:
        return await database.run_write(
            lambda connection: apply_event(connection, E.RENT, T0, Number.id == only)
        )

    assert sorted(await asyncio.gather(*(rent_it() for _ in range(racers)))) == [0] * (
        racers - 1
    ) + [1]
