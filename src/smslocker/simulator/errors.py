"""The simulator's errors, for the HTTP API and CLI to translate.

SimulatorError
├── InvalidRequest    asked for something impossible: an MO text the coding cannot carry,
│                     an address SMPP cannot carry, too many segments, an unknown mode
│                     (HTTP 422)
└── NoReceiver        a load run needs a bound receiver or transceiver (HTTP 409)
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of the simulator's errors."""


class InvalidRequest(SimulatorError, ValueError):
    """The request cannot be carried out as asked; the text says why."""


class NoReceiver(SimulatorError):
    """No ESME is bound as receiver or transceiver."""
