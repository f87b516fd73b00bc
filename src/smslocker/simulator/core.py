"""The state one simulated SMSC shares between its connections.

:class:`SmscCore` is what every :class:`~.connection.SmscConnection` talks to:
the configuration, the current misbehaviour, the accounts, the message store,
the dispatcher and the loopback. :class:`~.smsc.Simulator` wraps it with a
listening socket and the public API.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smslocker.log import get_logger
from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.framing import DEFAULT_MAX_PDU_LENGTH

from .behaviour import ModeSettings
from .delivery import Dispatcher, RetryPolicy
from .loopback import Loopback
from .messages import MessageStore

if TYPE_CHECKING:
    from .connection import SmscConnection

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Account:
    """Credentials an ESME may bind with (SMPP.md §3.1: at most 15 and 8 characters)."""

    system_id: str
    password: str = ""


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulated SMSC listens and behaves. Times are seconds; None turns a timer off."""

    host: str = "127.0.0.1"
    port: int = 2775
    """0 picks a free port: read it back from :attr:`Simulator.port`."""
    system_id: str = "smslocker-sim"
    """The SMSC's own name, sent in bind_*_resp."""
    accounts: tuple[Account, ...] = ()
    """Who may bind. Empty: any system_id and password are accepted."""
    ssl: ssl.SSLContext | None = None
    mode: ModeSettings = field(default_factory=ModeSettings)
    window: int = 10
    """deliver_sm outstanding per session before the SMSC waits for acks (SMPP.md §11.5)."""
    response_timeout: float = 10.0
    enquire_link_interval: float | None = 30.0
    session_init_timeout: float | None = 30.0
    inactivity_timeout: float | None = None
    redelivery_delay: float = 1.0
    max_redelivery_delay: float = 30.0
    max_attempts: int | None = None
    """Attempts per deliver_sm before the message fails; None: retry for ever."""
    loopback_destinations: str = ".*"
    """Regex (full match) of the destinations a submit_sm may be sent to."""
    max_pdu_length: int = DEFAULT_MAX_PDU_LENGTH
    message_limit: int = 100_000
    """Finished messages kept for queries before the oldest are forgotten."""


class SmscCore:
    """Shared state of one simulated SMSC. See the module docstring."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.mode = config.mode
        self.store = MessageStore(config.message_limit)
        self.dispatcher = Dispatcher(
            RetryPolicy(
                redelivery_delay=config.redelivery_delay,
                max_redelivery_delay=config.max_redelivery_delay,
                max_attempts=config.max_attempts,
            )
        )
        self.loopback = Loopback(self.store, self.dispatcher, config.loopback_destinations)
        self.connections: set[SmscConnection] = set()
        #: Set on every bind or unbind of a receiver (waiters clear it, then wait).
        self.receivers_changed = asyncio.Event()
        self.binds = 0
        self.bind_failures = 0
        self._accounts = {account.system_id: account.password for account in config.accounts}

    def authenticate(self, system_id: str, password: str) -> int:
        """The bind_*_resp status for these credentials (0: welcome)."""
        if not self._accounts:
            return S.ESME_ROK
        expected = self._accounts.get(system_id)
        if expected is None:
            return S.ESME_RINVSYSID
        return S.ESME_ROK if password == expected else S.ESME_RINVPASWD

    # -- connections ------------------------------------------------------------------

    def opened(self, connection: SmscConnection) -> None:
        self.connections.add(connection)

    def bound(self, connection: SmscConnection) -> None:
        self.binds += 1
        log.info(
            "simulator.bound",
            session=connection.name,
            system_id=connection.system_id,
            bind=connection.bind_type,
        )
        if connection.receives:
            self.dispatcher.add_receiver(connection)
            self.receivers_changed.set()

    def unbound(self, connection: SmscConnection) -> None:
        """The connection can take no more deliver_sm (unbinding or gone)."""
        self.dispatcher.remove_receiver(connection)
        self.receivers_changed.set()

    def closed(self, connection: SmscConnection) -> None:
        self.unbound(connection)
        self.connections.discard(connection)
        self.dispatcher.schedule_pump()

    def set_mode(self, settings: ModeSettings) -> None:
        self.mode = settings
        log.info("simulator.mode", mode=settings.mode.value, count=settings.count)
        for connection in list(self.connections):
            connection.mode_changed()
        # Connections a silent or garbling mode kept out may take messages again.
        self.dispatcher.schedule_pump()
