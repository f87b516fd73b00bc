"""How the simulated SMSC behaves: normally, or misbehaving on purpose (STYLE.md habit 8).

Tests of the gateway need SMSCs that go wrong in the ways real ones do. Each
mode is one row of :data:`BEHAVIOURS`; the connection code asks the row, never
the mode's name, so adding a mode is adding a row.

| mode           | what the ESME sees                                                       |
|----------------|--------------------------------------------------------------------------|
| normal         | a well-behaved SMSC                                                      |
| never_answer   | everything it sends is read; nothing ever comes back, not even bind_resp |
| garbage        | every answer is replaced by random bytes whose length field breaks framing |
| unbind         | an unbind after ``count`` deliver_sm on that connection (0: at once)     |
| throttle       | submit_sm / data_sm / submit_multi answered ESME_RTHROTTLED              |
| slow_acks      | every answer is written ``delay`` seconds late                           |
| drop_after     | the TCP connection is cut, without unbind, after ``count`` deliver_sm    |
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from enum import StrEnum


class Mode(StrEnum):
    NORMAL = "normal"
    NEVER_ANSWER = "never_answer"
    GARBAGE = "garbage"
    UNBIND = "unbind"
    THROTTLE = "throttle"
    SLOW_ACKS = "slow_acks"
    DROP_AFTER = "drop_after"


@dataclass(frozen=True, slots=True)
class Behaviour:
    """One row of the table: what a connection does differently in a mode."""

    answers: bool = True
    """Handle requests and write answers at all (never_answer: read and stay silent)."""
    garbles_answers: bool = False
    """Replace every answer written by random bytes (garbage)."""
    delays_answers: bool = False
    """Write answers ``delay`` seconds late (slow_acks)."""
    throttles_submits: bool = False
    """Answer submit_sm, data_sm and submit_multi with ESME_RTHROTTLED."""
    unbinds_after_count: bool = False
    """Send unbind once ``count`` deliver_sm went out on the connection."""
    drops_after_count: bool = False
    """Abort the connection once ``count`` deliver_sm went out on it."""

    @property
    def delivers(self) -> bool:
        """Whether MO messages may be sent to a connection in this mode.

        A silent or garbling SMSC sends no deliver_sm: its ESME is meant to see
        a dead or broken link, and messages wait for a healthy one instead.
        """
        return self.answers and not self.garbles_answers


BEHAVIOURS: dict[Mode, Behaviour] = {
    Mode.NORMAL: Behaviour(),
    Mode.NEVER_ANSWER: Behaviour(answers=False),
    Mode.GARBAGE: Behaviour(garbles_answers=True),
    Mode.UNBIND: Behaviour(unbinds_after_count=True),
    Mode.THROTTLE: Behaviour(throttles_submits=True),
    Mode.SLOW_ACKS: Behaviour(delays_answers=True),
    Mode.DROP_AFTER: Behaviour(drops_after_count=True),
}


@dataclass(frozen=True, slots=True)
class ModeSettings:
    """The current mode and its parameters (settable at start and at runtime)."""

    mode: Mode = Mode.NORMAL
    count: int = 0
    """unbind / drop_after: deliver_sm sent on a connection before it happens."""
    delay: float = 1.0
    """slow_acks: seconds every answer is held back."""

    @property
    def behaviour(self) -> Behaviour:
        return BEHAVIOURS[self.mode]


def garbage(length: int) -> bytes:
    """Random octets of about ``length`` whose first word is no valid command_length.

    The length field is forced below 16 so the ESME's framing breaks at once and
    deterministically, rather than waiting for octets that will never come.
    """
    size = max(length, 16)
    return struct.pack(">I", 7) + os.urandom(size - 4)
