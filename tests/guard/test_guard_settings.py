"""The ``[guard]`` settings: on by default, and one rule field can be changed alone."""

from __future__ import annotations

import pytest

from smslocker.settings import Settings


def test_on_by_default() -> None:
    guard = Settings().guard
    assert guard.limits_enabled
    assert guard.rules_enabled
    assert (guard.key_rate_per_s, guard.ip_rate_per_s) == (10.0, 10.0)
    assert guard.rental_quota_per_hour["unverified"] == 5
    assert (guard.rent_burst.count, guard.rent_burst.window_s) == (50, 300)
    assert all(
        rule.enabled for rule in (guard.rent_burst, guard.empty_endings, guard.accounts_per_ip)
    )


def test_environment_changes_one_field_of_a_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSLOCKER_GUARD__EMPTY_ENDINGS__COUNT", "7")
    monkeypatch.setenv("SMSLOCKER_GUARD__RENTAL_QUOTA_PER_HOUR", '{"unverified": 1, "gold": 99}')
    guard = Settings().guard
    assert (guard.empty_endings.count, guard.empty_endings.window_s) == (7, 3600)
    assert guard.rental_quota_per_hour == {"unverified": 1, "gold": 99}


def test_a_rule_needs_a_positive_count() -> None:
    with pytest.raises(ValueError, match="count"):
        Settings(guard={"rent_burst": {"count": 0}})
