"""The renter's page in a real headless chromium, signing in with an account name and
the password the operator set: a wrong password is refused, the right one shows the
account and its balance in the header, renting moves the balance, signing out ends the
session on the server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_support import LiveServer, live_server

US = ["+14155550201", "+14155550202"]
PASSWORD = "renter's long password"
#: Generous: chromium on a loaded 2-core machine; a failure is a missing element, not slowness.
WAIT_MS = 30_000

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path / "data") as server:
        server.seed(US, "US")
        yield server


def set_password(server: LiveServer, name: str, password: str) -> None:
    from sqlalchemy import select

    from smslocker.accounts.sessions import set_password as store_password
    from smslocker.store.models import Account

    async def work() -> None:
        async with server.platform.db.read() as connection:
            account_id = await connection.scalar(select(Account.id).where(Account.name == name))
        await store_password(server.platform.db, account_id, password, server.platform.now())

    server.call(work)


def sessions_alive(server: LiveServer, name: str) -> int:
    """How many session tokens of ``name`` still work (not revoked, not expired)."""
    from sqlalchemy import func, select

    from smslocker.store.models import Account, ApiKey

    async def count() -> int:
        async with server.platform.db.read() as connection:
            found = await connection.scalar(
                select(func.count())
                .select_from(ApiKey)
                .join(Account, Account.id == ApiKey.account_id)
                .where(
                    Account.name == name,
                    ApiKey.kind == "session",
                    ApiKey.revoked_at.is_(None),
                    ApiKey.expires_at > server.platform.now(),
                )
            )
        return int(found or 0)

    return server.call(count)


def test_a_renter_signs_in_with_a_password_and_sees_the_balance(
    server: LiveServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    server.account("dana", balance=1000)
    set_password(server, "dana", PASSWORD)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("#signin:not([hidden])", timeout=WAIT_MS)
    assert "not available" not in page.locator("#signin").inner_text()

    page.fill("#account-name", "dana")
    page.fill("#password", "not the password at all")
    page.click("#password-form button[type=submit]")
    status = page.locator("#signin-status")
    expect(status).to_contain_text("Wrong account name or password", timeout=WAIT_MS)
    assert page.locator("#rent").is_hidden()
    assert sessions_alive(server, "dana") == 0

    page.fill("#password", PASSWORD)
    page.click("#password-form button[type=submit]")
    page.wait_for_selector("#rent:not([hidden])", timeout=WAIT_MS)
    assert page.locator("#who").inner_text() == "dana"
    balance = page.locator("[data-testid=balance]")
    expect(balance).to_have_attribute("data-balance", "1000", timeout=WAIT_MS)
    assert "credits" in balance.inner_text()
    assert page.locator("#password").input_value() == ""  # not left in the form
    assert sessions_alive(server, "dana") == 1

    # Renting with the session token works and the header follows the balance.
    page.wait_for_selector(".choice[data-country=US]", timeout=WAIT_MS)
    page.locator(".choice[data-country=US]").click()
    page.click("#rent-button")
    page.locator("article.rental").first.wait_for(timeout=WAIT_MS)
    expect(balance).to_have_attribute("data-balance", "900", timeout=WAIT_MS)

    # The session survives a reload (it is the page's key now)...
    page.reload()
    page.wait_for_selector("#rent:not([hidden])", timeout=WAIT_MS)
    expect(balance).to_have_attribute("data-balance", "900", timeout=WAIT_MS)
    # ...and signing out revokes it on the server.
    page.click("#sign-out")
    page.wait_for_selector("#signin:not([hidden])", timeout=WAIT_MS)
    assert page.locator("[data-testid=balance]").is_hidden()
    assert sessions_alive(server, "dana") == 0  # the page waits for the DELETE
    assert errors == []
