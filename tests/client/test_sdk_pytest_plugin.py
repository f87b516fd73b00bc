"""The pytest plugin (``sms_number``, ``sms_client``), run by pytester: it skips with the
reason while unconfigured, and against the app served on loopback it rents what the
marker or the ini says and releases the number after each test, passed or failed."""

from __future__ import annotations

import asyncio

import pytest
from api_support import SeedNumbers
from fastapi import FastAPI
from push_support import serve_on_loopback

from smslocker.client import AsyncClient

#: In-process runs share this process's warnings: leave out pytest-asyncio, which warns
#: about its unset options in a bare project.
INLINE = ("-p", "no:asyncio")

USING_THE_FIXTURES = """
def test_with_a_number(sms_number):
    raise AssertionError("must not run unconfigured")

def test_with_the_client(sms_client):
    raise AssertionError("must not run unconfigured")

def test_without():
    pass
"""

RENTING = """
import pytest

def test_the_ini_country(sms_number, sms_client):
    assert sms_number.number.startswith("+49")
    assert sms_number.active
    assert sms_client.rental(sms_number.id).active

@pytest.mark.sms_number(country="GB", service="whatsapp")
def test_the_marker_wins(sms_number):
    assert sms_number.number.startswith("+44")
    assert sms_number.service == "whatsapp"

@pytest.mark.sms_number(country="GB")
def test_a_failing_test_still_releases(sms_number):
    assert sms_number.number == "no"

@pytest.mark.sms_number(colour="red")
def test_an_unknown_marker_keyword(sms_number):
    pass

def test_without():
    pass
"""


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMSLOCKER_URL", raising=False)
    monkeypatch.delenv("SMSLOCKER_API_KEY", raising=False)


@pytest.mark.usefixtures("unconfigured")
def test_unconfigured_fixtures_skip_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(USING_THE_FIXTURES)
    result = pytester.runpytest("-rs", *INLINE)
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        ["*smslocker is not configured: needs a server URL (--smslocker-url or SMSLOCKER_URL)*"]
    )


@pytest.mark.usefixtures("unconfigured")
def test_a_missing_key_alone_is_named(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSLOCKER_URL", "http://127.0.0.1:9")
    pytester.makepyfile(USING_THE_FIXTURES)
    result = pytester.runpytest("-rs", *INLINE)
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*needs an API key (--smslocker-api-key or SMSLOCKER_API_KEY)"])
    result.stdout.no_fnmatch_line("*needs a server URL*")


@pytest.mark.usefixtures("unconfigured")
def test_the_options_and_marker_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help", *INLINE)
    result.stdout.fnmatch_lines(["*--smslocker-url*", "*--smslocker-api-key*"])
    result = pytester.runpytest("--markers", *INLINE)
    result.stdout.fnmatch_lines(["@pytest.mark.sms_number(*"])


@pytest.mark.usefixtures("unconfigured")
async def test_sms_number_rents_and_releases_against_a_server(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    app: FastAPI,
    user: str,
    seed_numbers: SeedNumbers,
) -> None:
    await seed_numbers(2, country="DE")
    await seed_numbers(2, country="GB")
    pytester.makeini("[pytest]\nsmslocker_country = DE\n")
    pytester.makepyfile(RENTING)
    monkeypatch.setenv("SMSLOCKER_API_KEY", user)
    async with serve_on_loopback(app) as address:
        url = f"http://{address}"
        result = await asyncio.to_thread(
            pytester.runpytest_subprocess, f"--smslocker-url={url}", timeout=50
        )
        async with AsyncClient(url, user) as client:
            rentals = await client.rentals()
    result.assert_outcomes(passed=3, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*sms_number: unknown colour; use country, service*"])
    assert sorted(rental.country or "" for rental in rentals) == ["DE", "GB", "GB"]
    assert {rental.status for rental in rentals} == {"completed"}
