"""Carrier connectors: asyncio ESMEs that bind to SMSCs and hand every inbound SMS to a sink."""

from .config import BindType, ConnectorConfig
from .connector import Connector, ConnectorState
from .messages import InboundEvent, InboundMessage, InboundReceipt, Sink, SinkSaturated

__all__ = [
    "BindType",
    "Connector",
    "ConnectorConfig",
    "ConnectorState",
    "InboundEvent",
    "InboundMessage",
    "InboundReceipt",
    "Sink",
    "SinkSaturated",
]
