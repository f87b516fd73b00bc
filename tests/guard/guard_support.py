"""Shared pieces of the guard tests: a platform with the guard switched on (small limits
so tests reach them in a few calls), built from ``tests/api/api_support.py``.

The API support module lives in ``tests/api``; this directory's conftest puts that on
``sys.path`` so both can be imported by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api_support import FakeClock, settings_for

from smslocker.delivery.bus import InProcessBus
from smslocker.platform import Platform
from smslocker.settings import GuardSettings, RuleSettings
from smslocker.store import Database

RULES_OFF = {
    "rent_burst": RuleSettings(enabled=False, count=1, window_s=1),
    "empty_endings": RuleSettings(enabled=False, count=1, window_s=1),
    "accounts_per_ip": RuleSettings(enabled=False, count=1, window_s=1),
}
#: Limits high enough that a test only meets the one it is about.
ROOMY: dict[str, Any] = {
    "ip_rate_per_s": 1000.0,
    "ip_burst": 1000,
    "key_rate_per_s": 1000.0,
    "key_burst": 1000,
    "rental_quota_per_hour": {"unverified": 1000, "verified": 1000, "trusted": 1000},
    **RULES_OFF,
}


def guard_settings(**overrides: Any) -> GuardSettings:
    return GuardSettings(**{**ROOMY, **overrides})


def guarded_platform(
    database: Database, clock: FakeClock, tmp_path: Path, guard: GuardSettings, **settings: Any
) -> Platform:
    return Platform(
        settings=settings_for(tmp_path, guard=guard, **settings),
        db=database,
        bus=InProcessBus(),
        clock=clock,
    )
