"""An SMSC simulator: ESMEs bind to it, tests and people make it send MO messages.

See :mod:`.smsc` for the :class:`Simulator` itself, :mod:`.behaviour` for its
misbehaviour modes, :mod:`.loadgen` for the load generator, :mod:`.http` for
the HTTP API and :mod:`.cli` for ``smslocker simulate`` and ``smslocker send``.
"""

from .behaviour import Mode, ModeSettings
from .core import Account, SimulatorConfig
from .errors import InvalidRequest, NoReceiver, SimulatorError
from .loadgen import LoadReport
from .smsc import Simulator
from .views import MessageStatus, PartStatus, SessionStatus, SimulatorStats

__all__ = [
    "Account",
    "InvalidRequest",
    "LoadReport",
    "MessageStatus",
    "Mode",
    "ModeSettings",
    "NoReceiver",
    "PartStatus",
    "SessionStatus",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "SimulatorStats",
]
