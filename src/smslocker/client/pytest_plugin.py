"""pytest fixtures for tests that need a real phone number: ``sms_number``, ``sms_client``.

Installed with the package (entry point ``pytest11``), so it is loaded in every pytest
run of an environment that has smslocker: it only adds options, ini keys and a marker,
and its fixtures skip — with the reason — while no server is configured. A suite that
never asks for them sees no difference.

Configuration, first found wins:

- server URL: ``--smslocker-url``, ``SMSLOCKER_URL``, ini ``smslocker_url``;
- API key: ``--smslocker-api-key``, ``SMSLOCKER_API_KEY`` (not in ini: keys stay out
  of the repository);
- what to rent: the ``sms_number`` marker's keywords (``country``, ``service``,
  ``carrier``, ``number``, ``duration_s``), else ini ``smslocker_country`` and
  ``smslocker_service``.

::

    @pytest.mark.sms_number(country="GB", service="whatsapp")
    def test_signup(sms_number):
        start_signup(phone=sms_number.number)
        assert enter_code(sms_number.wait_for_code(timeout=120))

The rental is released after the test, whatever its outcome.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .protocol import API_KEY_ENV, URL_ENV
from .sync_client import Client, Rental

MARKER = "sms_number"
_RENT_KEYWORDS = ("country", "service", "carrier", "number", "duration_s")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smslocker", "smslocker: rent phone numbers in tests")
    group.addoption(
        "--smslocker-url",
        dest="smslocker_url",
        default=None,
        help=f"smslocker server for the sms_number fixture (default: ${URL_ENV})",
    )
    group.addoption(
        "--smslocker-api-key",
        dest="smslocker_api_key",
        default=None,
        help=f"API key for the sms_number fixture (default: ${API_KEY_ENV})",
    )
    parser.addini("smslocker_url", f"smslocker server (after --smslocker-url and ${URL_ENV})")
    parser.addini("smslocker_country", "country the sms_number fixture rents in (e.g. US)")
    parser.addini("smslocker_service", "service the sms_number fixture rents for (e.g. google)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(country=None, service=None, carrier=None, number=None, duration_s=None): "
        "what the sms_number fixture rents",
    )


def _setting(config: pytest.Config, option: str, env: str, ini: str | None) -> str | None:
    value = config.getoption(option) or os.environ.get(env)
    if not value and ini is not None:
        value = config.getini(ini)
    return str(value) if value else None


@pytest.fixture(scope="session")
def sms_client(pytestconfig: pytest.Config) -> Iterator[Client]:
    """A :class:`~smslocker.client.Client` for the configured server; skips the test when
    none is configured."""
    url = _setting(pytestconfig, "smslocker_url", URL_ENV, "smslocker_url")
    api_key = _setting(pytestconfig, "smslocker_api_key", API_KEY_ENV, None)
    missing = [
        what
        for what, value in (
            (f"a server URL (--smslocker-url or {URL_ENV})", url),
            (f"an API key (--smslocker-api-key or {API_KEY_ENV})", api_key),
        )
        if value is None
    ]
    if missing:
        pytest.skip(f"smslocker is not configured: needs {' and '.join(missing)}")
    with Client(url, api_key) as client:
        yield client


def _rent_arguments(request: pytest.FixtureRequest) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "country": request.config.getini("smslocker_country") or None,
        "service": request.config.getini("smslocker_service") or None,
    }
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            pytest.fail(f"@pytest.mark.{MARKER} takes keywords only", pytrace=False)
        unknown = sorted(set(marker.kwargs) - set(_RENT_KEYWORDS))
        if unknown:
            pytest.fail(
                f"@pytest.mark.{MARKER}: unknown {', '.join(unknown)}; "
                f"use {', '.join(_RENT_KEYWORDS)}",
                pytrace=False,
            )
        arguments.update(marker.kwargs)
    return arguments


@pytest.fixture
def sms_number(request: pytest.FixtureRequest, sms_client: Client) -> Iterator[Rental]:
    """A number rented for this test (a :class:`~smslocker.client.Rental`: ``.number``,
    ``.wait_for_code()``, ...), released afterwards."""
    with sms_client.rent(**_rent_arguments(request)) as rental:
        yield rental
