"""Delivery: the bus (in-process or Redis), WebSocket/SSE hubs, the webhook outbox and worker.

- :mod:`.bus`: real-time fan-out of events to the subscribers of a channel
  (:mod:`.redis_bus`: across processes, on Redis).
- :mod:`.signing`: Standard Webhooks signatures for outgoing webhooks.
"""

from .bus import (
    MARKER_CHANNEL,
    OVERFLOW,
    RECONNECTED,
    Bus,
    BusClosed,
    BusError,
    BusUnavailable,
    Event,
    InProcessBus,
    Subscription,
    open_bus,
)
from .redis_bus import RedisBus
from .signing import (
    WebhookHeaderError,
    WebhookSignatureError,
    WebhookTimestampError,
    WebhookVerificationError,
    generate_secret,
    sign,
    verify,
    webhook_headers,
)

__all__ = [
    "MARKER_CHANNEL",
    "OVERFLOW",
    "RECONNECTED",
    "Bus",
    "BusClosed",
    "BusError",
    "BusUnavailable",
    "Event",
    "InProcessBus",
    "RedisBus",
    "Subscription",
    "WebhookHeaderError",
    "WebhookSignatureError",
    "WebhookTimestampError",
    "WebhookVerificationError",
    "generate_secret",
    "open_bus",
    "sign",
    "verify",
    "webhook_headers",
]
