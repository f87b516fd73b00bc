"""Fixtures of the API tests (built from :mod:`api_support`).

- ``clock``: the platform's fake clock (:class:`api_support.FakeClock`, starts at T0).
- ``platform``: a :class:`~smslocker.platform.Platform` on the ``database`` fixture
  (SQLite and PostgreSQL), in-process bus, that clock.
- ``app``: ``create_app(platform)``; ``client``: an ``httpx.AsyncClient`` calling it
  in-process (base URL ``http://smslocker.test``).
- ``make_account(name="alice", balance=1000, role="user") -> (account_id, key)``.
- ``seed_numbers(count=3, country="US", carrier=None, start=0, ...) -> [e164, ...]``.
- ``sink``: the real ingest :class:`~smslocker.routing.ingest.StoreSink`; with
  ``api_support.deliver_sms(platform, sink, number, text)`` a test receives an SMS.
"""

from __future__ import annotations

from api_fixtures import (  # noqa: F401 - fixtures, found by name
    app,
    client,
    clock,
    make_account,
    platform,
    seed_numbers,
    server,
    sink,
)
