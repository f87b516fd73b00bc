"""Prometheus metrics of the whole process (served at ``/metrics``).

Defined in one place so names stay consistent; every part increments its own.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter(
    "smslocker_messages_in_total", "Inbound messages stored (after de-duplication)", ["connector"]
)
MESSAGES_DUPLICATE = Counter(
    "smslocker_messages_duplicate_total", "Inbound messages dropped as redeliveries", ["connector"]
)
MESSAGES_ROUTED = Counter("smslocker_messages_routed_total", "Messages routed to a rental")
MESSAGES_UNMATCHED = Counter(
    "smslocker_messages_unmatched_total", "Messages in no rental's window (kept for review)"
)
INGEST_COMMIT_SECONDS = Histogram(
    "smslocker_ingest_commit_seconds",
    "Time from a batch's first message to its commit (the ack waits for it)",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
CONNECTOR_STATE = Gauge(
    "smslocker_connector_up", "1 when the connector is bound, else 0", ["connector"]
)
WEBHOOK_ATTEMPTS = Counter(
    "smslocker_webhook_attempts_total", "Webhook delivery attempts by outcome", ["outcome"]
)
RENTALS = Counter("smslocker_rentals_total", "Rentals started")
PURGED = Counter("smslocker_retention_purged_total", "Rows purged by retention", ["what"])
