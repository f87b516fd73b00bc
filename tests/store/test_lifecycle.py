"""The number lifecycle table: what it allows, and that everything else raises."""

from __future__ import annotations

import pytest

from smslocker.pool.lifecycle import (
    TRANSITIONS,
    InvalidTransition,
    NumberEvent,
    NumberState,
    next_state,
    sources_of,
)

S, E = NumberState, NumberEvent


def test_the_happy_path_of_a_rental() -> None:
    state = S.FREE
    for event in (E.RENT, E.FIRST_MESSAGE, E.END, E.REST, E.RESTED):
        state = next_state(state, event)
    assert state is S.FREE


def test_a_rental_without_sms_still_ends() -> None:
    assert next_state(S.RESERVED, E.END) is S.RELEASED


@pytest.mark.parametrize("state", [s for s in S if s is not S.RETIRED])
def test_any_live_state_can_be_quarantined_and_retired(state: NumberState) -> None:
    assert next_state(state, E.QUARANTINE) is S.QUARANTINE
    assert next_state(state, E.RETIRE) is S.RETIRED


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("event", list(E))
def test_pairs_outside_the_table_raise(state: NumberState, event: NumberEvent) -> None:
    if (state, event) in TRANSITIONS:
        assert next_state(state, event) in S
    else:
        with pytest.raises(InvalidTransition):
            next_state(state, event)


def test_retired_is_final() -> None:
    assert not [pair for pair in TRANSITIONS if pair[0] is S.RETIRED]


def test_a_free_number_is_only_rented_from_free() -> None:
    assert sources_of(E.RENT) == {S.FREE}
    assert sources_of(E.FIRST_MESSAGE) == {S.RESERVED}
