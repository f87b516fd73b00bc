"""Sending SMS to our own numbers (health probes) through a transmitter bind.

:class:`Transmitter` is all that :mod:`.health` needs; :class:`SmppTransmitter` is the
real one: a gateway :class:`~smslocker.gateway.Connector` bound as a transmitter (so it
never takes inbound traffic away from the receiving binds) that sends submit_sm. Tests
can pass any object with the same ``submit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

from smslocker.gateway import BindType, Connector, ConnectorConfig, InboundEvent
from smslocker.smpp.constants import status_name
from smslocker.smpp.pdu import SubmitSm
from smslocker.smpp.text import encode_text

# Address types (SMPP 3.4 §5.2.5-6): our alphanumeric name, the number's international form.
TON_INTERNATIONAL, TON_ALPHANUMERIC = 1, 5
NPI_UNKNOWN, NPI_ISDN = 0, 1


class Transmitter(Protocol):
    """Something that can send one SMS to one of our numbers."""

    async def submit(self, destination: str, text: str) -> None:
        """Send ``text`` to ``destination`` (E.164 with '+'); raise if it was not accepted."""
        ...


class TransmitError(Exception):
    """The SMSC refused the submit_sm, or the link is down."""


class _NoInbound:
    """The sink of a transmitter bind, which SMPP never sends deliver_sm to.

    Should a misbehaving SMSC do it anyway, refusing makes it redeliver to a proper
    receiver instead of losing the message here.
    """

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        raise RuntimeError("a transmitter bind takes no inbound messages")


class SmppTransmitter:
    """A :class:`Transmitter` over an SMPP transmitter bind. Use ``async with``."""

    def __init__(
        self,
        config: ConnectorConfig,
        *,
        source: str = "smslocker",
        timeout: float = 10.0,
    ) -> None:
        self.connector = Connector(
            config.model_copy(update={"bind": BindType.TRANSMITTER}), _NoInbound()
        )
        self.source = source
        self.timeout = timeout

    async def start(self, timeout: float | None = None) -> None:
        """Connect and bind; returns once bound (or raises ``TimeoutError``)."""
        self.connector.start()
        await self.connector.wait_bound(self.timeout if timeout is None else timeout)

    async def stop(self) -> None:
        await self.connector.stop()

    async def __aenter__(self) -> SmppTransmitter:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def submit(self, destination: str, text: str) -> None:
        """submit_sm ``text`` to ``destination``; :class:`TransmitError` unless accepted."""
        data_coding, octets = encode_text(text)
        pdu = SubmitSm(
            source_addr_ton=TON_ALPHANUMERIC,
            source_addr_npi=NPI_UNKNOWN,
            source_addr=self.source,
            dest_addr_ton=TON_INTERNATIONAL,
            dest_addr_npi=NPI_ISDN,
            destination_addr=destination.removeprefix("+"),
            data_coding=data_coding,
            short_message=octets,
        )
        try:
            response = await asyncio.wait_for(self.connector.submit(pdu), self.timeout)
        except (ConnectionError, TimeoutError) as error:
            raise TransmitError(f"submit_sm to {destination}: {error!r}") from error
        if not response.ok:
            status = status_name(response.pdu.command_status)
            raise TransmitError(f"submit_sm to {destination} refused: {status}")


__all__ = ["SmppTransmitter", "TransmitError", "Transmitter"]
