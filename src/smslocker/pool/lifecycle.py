"""The number lifecycle as one table.

Theory of operation: a number is in exactly one :class:`NumberState`; something that
happens to it is a :class:`NumberEvent`; :data:`TRANSITIONS` maps (state, event) to the
next state, and a pair that is not in the table is a bug or a race, so
:func:`next_state` raises :class:`InvalidTransition` instead of guessing (the same rule
as h11's state machine). Storage applies a transition as a compare-and-set
(``UPDATE ... WHERE state = :from``), so two processes can never both move a number
out of the same state.

    FREE -> RESERVED (rented, no SMS yet) -> IN_USE (first SMS) -> RELEASED
    RELEASED -> COOLDOWN (rests) -> FREE
    any -> QUARANTINE (blocked or suspicious; the timer or an admin frees it)
    any -> RETIRED (removed, or the rotation limit reached)
"""

from __future__ import annotations

from enum import StrEnum


class NumberState(StrEnum):
    FREE = "FREE"
    RESERVED = "RESERVED"
    IN_USE = "IN_USE"
    RELEASED = "RELEASED"
    COOLDOWN = "COOLDOWN"
    QUARANTINE = "QUARANTINE"
    RETIRED = "RETIRED"


class NumberEvent(StrEnum):
    RENT = "rent"
    FIRST_MESSAGE = "first_message"
    END = "end"  # the rental ended: released, completed, cancelled or expired
    REST = "rest"  # a released number starts its cooldown
    RESTED = "rested"  # the cooldown is over
    QUARANTINE = "quarantine"
    UNQUARANTINE = "unquarantine"  # the quarantine timer ran out, or an admin freed it
    RETIRE = "retire"


class InvalidTransition(Exception):
    """(state, event) is not in the lifecycle table."""

    def __init__(self, state: NumberState, event: NumberEvent) -> None:
        super().__init__(f"a {state} number cannot take {event!r}")
        self.state = state
        self.event = event


S, E = NumberState, NumberEvent

TRANSITIONS: dict[tuple[NumberState, NumberEvent], NumberState] = {
    (S.FREE, E.RENT): S.RESERVED,
    (S.RESERVED, E.FIRST_MESSAGE): S.IN_USE,
    (S.RESERVED, E.END): S.RELEASED,
    (S.IN_USE, E.END): S.RELEASED,
    (S.RELEASED, E.REST): S.COOLDOWN,
    (S.COOLDOWN, E.RESTED): S.FREE,
    (S.QUARANTINE, E.UNQUARANTINE): S.FREE,
    **{(state, E.QUARANTINE): S.QUARANTINE for state in S if state is not S.RETIRED},
    **{(state, E.RETIRE): S.RETIRED for state in S if state is not S.RETIRED},
}

# States in which a number belongs to a live rental (an admin action must not free it).
RENTED = frozenset({S.RESERVED, S.IN_USE})


def next_state(state: NumberState, event: NumberEvent) -> NumberState:
    """The state ``event`` moves a ``state`` number to; raises :class:`InvalidTransition`."""
    try:
        return TRANSITIONS[state, event]
    except KeyError:
        raise InvalidTransition(state, event) from None


def sources_of(event: NumberEvent) -> frozenset[NumberState]:
    """Every state ``event`` can move a number out of (for ``UPDATE ... WHERE state IN``)."""
    return frozenset(state for (state, each) in TRANSITIONS if each is event)
