"""Scheduled health probes: every connector's numbers tested through a transmitter bind.

:func:`probe_connectors` runs one round: for each enabled SMPP connector (the database's
and the settings' ones), a short-lived transmitter bind to the same SMSC
(:class:`~.transmitter.SmppTransmitter`: it never takes inbound traffic away from the
receiving binds) sends probes to up to ``limit`` of that connector's numbers, those
probed longest ago first (:func:`~.health.send_probes`). The echoes come back through
the normal ingest path, which settles them; the sweeper fails the overdue ones, and a
number failing ``probe_failures_to_quarantine`` in a row goes to QUARANTINE.

A connector whose SMSC cannot be reached is skipped for that round (logged): a link
problem is not its numbers' fault. :func:`run_prober` repeats rounds every
``policy.probe_interval_s`` seconds (0 turns it off), in ``serve``'s worker role;
``smslocker numbers probe`` runs one round by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from smslocker.gateway import ConnectorConfig
from smslocker.log import get_logger
from smslocker.settings import PolicySettings
from smslocker.store.db import Database

from .health import ProbeRound, send_probes
from .transmitter import SmppTransmitter, Transmitter

log = get_logger(__name__)

#: Binding a transmitter for a round must not take longer than this.
BIND_TIMEOUT_S = 10.0

TransmitterFor = Callable[[ConnectorConfig], SmppTransmitter]


async def probe_configs(
    db: Database, extra: Sequence[ConnectorConfig] = ()
) -> list[ConnectorConfig]:
    """The enabled SMPP connectors: the database's, then ``extra`` (the settings')."""
    from smslocker.gateway.registry import config_of, list_connectors

    configs = [
        config_of(record)
        for record in await list_connectors(db)
        if record.enabled and not record.is_http
    ]
    names = {config.name for config in configs}
    return configs + [config for config in extra if config.name not in names]


async def probe_connectors(
    db: Database,
    configs: Sequence[ConnectorConfig],
    now: datetime,
    policy: PolicySettings,
    *,
    limit: int,
    bind_timeout: float = BIND_TIMEOUT_S,
    transmitter_for: TransmitterFor = SmppTransmitter,
) -> dict[str, ProbeRound | None]:
    """One round (see the module docstring): per connector, what was sent (None: skipped)."""
    rounds: dict[str, ProbeRound | None] = {}
    for config in configs:
        transmitter = transmitter_for(config)
        try:
            await transmitter.start(bind_timeout)
        except (OSError, TimeoutError) as error:
            log.warning("prober.bind_failed", connector=config.name, error=repr(error))
            await transmitter.stop()
            rounds[config.name] = None
            continue
        try:
            rounds[config.name] = await _round(db, transmitter, now, policy, limit, config.name)
        finally:
            await transmitter.stop()
    return rounds


async def _round(
    db: Database,
    transmitter: Transmitter,
    now: datetime,
    policy: PolicySettings,
    limit: int,
    connector: str,
) -> ProbeRound:
    done = await send_probes(db, transmitter, now, policy, limit=limit, connector=connector)
    log.info("prober.round", connector=connector, sent=len(done.sent), unsent=done.unsent)
    return done


async def run_prober(
    db: Database,
    policy: PolicySettings,
    *,
    clock: Callable[[], datetime],
    extra_configs: Sequence[ConnectorConfig] = (),
) -> None:
    """Probe every ``policy.probe_interval_s`` seconds until cancelled (never if 0)."""
    if policy.probe_interval_s <= 0:
        return
    while True:
        await asyncio.sleep(policy.probe_interval_s)
        try:
            configs = await probe_configs(db, extra_configs)
            await probe_connectors(db, configs, clock(), policy, limit=policy.probe_batch)
        except Exception as error:  # the next round tries again
            log.warning("prober.failed", error=repr(error))


__all__ = ["BIND_TIMEOUT_S", "probe_configs", "probe_connectors", "run_prober"]
