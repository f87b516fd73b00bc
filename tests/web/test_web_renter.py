"""The renter's page in a real headless chromium: sign in with a key, pick a country
and a service, rent, and see the code of an SMS injected at the SMSC simulator appear
on the page without a reload; copy it; release; the history; a phone-sized screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_support import SCREENSHOTS, LiveServer, live_server

US = ["+14155550101", "+14155550102", "+14155550103"]
GB = ["+447700900101", "+447700900102"]
#: Generous: chromium on a loaded 2-core machine; a failure is a missing code, not slowness.
WAIT_MS = 30_000

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path / "data") as server:
        server.seed(US, "US")
        server.seed(GB, "GB")
        yield server


def sign_in(page: Any, server: LiveServer, key: str) -> None:
    page.goto(server.url + "/")
    page.fill("#api-key", key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#rent:not([hidden])", timeout=WAIT_MS)


def test_a_renter_rents_and_the_code_arrives_live(server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    key = server.account("alice", balance=1000)
    server.start_simulator()
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    sign_in(page, server, key)
    page.fill("#service", "google")
    # Availability per country with the price of a rental.
    page.wait_for_selector(".choice[data-country=GB]", timeout=WAIT_MS)
    us = page.locator(".choice[data-country=US]")
    assert "3 available" in us.inner_text()
    assert "100 credits" in us.inner_text()
    us.click()
    page.click("#rent-button")

    card = page.locator("article.rental").first
    card.wait_for(timeout=WAIT_MS)
    number = card.locator(".number").inner_text()
    assert number in US
    assert card.get_attribute("data-rental-id", timeout=WAIT_MS)
    page.wait_for_selector("article.rental .live[data-state=live]", timeout=WAIT_MS)
    assert "left" in card.locator("[data-testid=countdown]").inner_text()

    # The SMS goes through the simulator, SMPP, the connector and ingest; the page is
    # not reloaded: the code shows up over the WebSocket.
    server.simulator.inject_mo("Google", number.lstrip("+"), "G-482913 is your Google code.")
    code = card.locator("[data-testid=code]")
    code.wait_for(timeout=WAIT_MS)
    assert code.inner_text() == "482913"
    assert card.locator("mark").inner_text() == "482913"
    assert "G-482913 is your Google code." in card.locator(".message .text").inner_text()

    card.locator("[data-testid=copy-code]").click()
    assert page.evaluate("navigator.clipboard.readText()") == "482913"
    page.screenshot(path=str(SCREENSHOTS / "renter.png"), full_page=True)

    # A second message arrives on the same open page, newest first.
    server.deliver(number, "Your WhatsApp code: 551-204", source="WhatsApp")
    expect(card.locator(".message")).to_have_count(2, timeout=WAIT_MS)
    assert card.locator("[data-testid=code]").first.inner_text() in ("551204", "551-204")

    # Report a problem: the thanks, or plainly that this server cannot take reports.
    card.locator(".report summary").click()
    card.locator(".report button").click()
    note = card.locator(".note")
    note.wait_for(timeout=WAIT_MS)
    assert "report was sent" in note.inner_text() or "not available" in note.inner_text()

    card.get_by_role("button", name="Release").click()
    page.wait_for_selector("article.rental .badge[data-status=completed]", timeout=WAIT_MS)
    history = page.locator("#history-table tbody tr").first
    expect(history).to_contain_text("completed", timeout=WAIT_MS)
    assert number in history.inner_text()
    # A past rental's messages open under its row.
    history.get_by_role("button", name=number).click()
    expect(page.locator("#history-table tr[data-messages-of] .message")).to_have_count(
        2, timeout=WAIT_MS
    )
    assert errors == []


def test_a_wrong_key_is_refused_and_a_stored_key_survives_reload(
    server: LiveServer, browser: Any
) -> None:
    key = server.account("bob")
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#api-key", "sk_not_a_valid_key")
    page.click("#signin-form button[type=submit]")
    status = page.locator("#signin-status")
    status.wait_for(timeout=WAIT_MS)
    assert "not valid" in status.inner_text()
    assert page.locator("#rent").is_hidden()

    page.fill("#api-key", key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#rent:not([hidden])", timeout=WAIT_MS)
    page.reload()
    page.wait_for_selector("#rent:not([hidden])", timeout=WAIT_MS)
    page.click("#sign-out")
    page.wait_for_selector("#signin:not([hidden])", timeout=WAIT_MS)
    page.reload()
    page.wait_for_selector("#signin:not([hidden])", timeout=WAIT_MS)


def test_the_renter_page_fits_a_phone(server: LiveServer, browser: Any) -> None:
    key = server.account("carol")
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    sign_in(page, server, key)
    page.wait_for_selector(".choice[data-country=US]", timeout=WAIT_MS)
    page.locator(".choice[data-country=GB]").click()
    page.click("#rent-button")
    page.locator("article.rental").first.wait_for(timeout=WAIT_MS)
    number = page.locator("article.rental .number").first.inner_text()
    assert number in GB
    page.wait_for_selector("article.rental .live[data-state=live]", timeout=WAIT_MS)
    server.deliver(number, "Telegram code: 77310", source="Telegram")
    page.locator("[data-testid=code]").wait_for(timeout=WAIT_MS)
    # Nothing is wider than the screen: no sideways scrolling on a phone.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    page.screenshot(path=str(SCREENSHOTS / "renter-phone.png"), full_page=True)
