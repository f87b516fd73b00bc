"""Whether the tests run in CI, and the skip-or-fail rule for missing prerequisites.

A module of its own so test modules can import it (``from conftest import ...`` would
find whichever conftest.py comes first on sys.path).
"""

from __future__ import annotations

import os

import pytest


def running_in_ci() -> bool:
    """True when the tests run in CI (``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def skip_or_fail(reason: str) -> None:
    """Skip the test for a missing prerequisite; under CI, where nothing may be missing, fail."""
    if running_in_ci():
        pytest.fail(f"{reason} (CI=true: required in CI)", pytrace=False)
    pytest.skip(reason)
