"""Snapshots of the simulator's state, as the HTTP API, the CLI and tests see them.

Frozen plain data: reading one never reaches into the live objects, and
``dataclasses.asdict`` turns each into JSON.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PartStatus:
    """One deliver_sm of a message: its state, tries, and the last answer or failure."""

    part: int
    state: str
    attempts: int
    last_status: str | None
    last_error: str | None
    delivered_to: str | None


@dataclass(frozen=True, slots=True)
class MessageStatus:
    """A message as ``GET /mo/{id}`` shows it; ``state`` is the worst of its parts'."""

    id: str
    kind: str
    source: str
    destination: str
    text: str
    data_coding: int
    split: str | None
    state: str
    attempts: int
    created_at: str
    done_at: str | None
    parts: tuple[PartStatus, ...]


@dataclass(frozen=True, slots=True)
class SessionStatus:
    """One connection, as ``GET /sessions`` shows it."""

    id: str
    peer: str
    system_id: str
    bind: str | None
    address_range: str | None
    in_flight: int
    deliver_sm_sent: int
    bound_at: str | None
    load: bool


@dataclass(frozen=True, slots=True)
class SimulatorStats:
    """Counters since start, as ``GET /stats`` shows them."""

    mode: str
    connections: int
    bound_sessions: int
    binds: int
    bind_failures: int
    messages: int
    queued: int
    in_flight: int
    deliver_sm_sent: int
    acked: int
    nacked: int
    timeouts: int
    lost: int
    redeliveries: int
    failed: int
    submitted: int
    receipts: int
