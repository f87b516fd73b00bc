"""The console's inbound filters in a real headless chromium: an operator adds a hold rule,
a matching SMS waits in "Held messages", the operator releases it and its renter sees
it; the rule is deleted from the same table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_support import SCREENSHOTS, LiveServer, live_server

US = ["+14155550111"]
WAIT_MS = 30_000

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path / "data") as server:
        server.seed(US, "US")
        yield server


def deliver_screened(server: LiveServer, number: str, text: str, source: str) -> None:
    """An SMS through an ingest sink with the platform's inbound filters (as
    ``smslocker serve`` builds it)."""
    from smslocker.gateway.messages import InboundMessage
    from smslocker.routing.ingest import StoreSink
    from smslocker.screening.store import rule_cache
    from smslocker.settings import IngestSettings

    platform = server.platform

    async def deliver() -> None:
        sink = StoreSink(
            platform.db,
            IngestSettings(batch_ms=0.0),
            clock=platform.clock,
            bus=platform.bus,
            ring=platform.keyring,
            screen=rule_cache(platform.db).rules,
        )
        message = InboundMessage(
            connector="sim",
            source=source,
            destination=number.lstrip("+"),
            text=text,
            data_coding=0,
            encoding="gsm7",
            received_at=platform.now(),
        )
        await sink.accept([message])
        await sink.close()

    server.call(deliver)


def test_hold_rule_then_release_from_the_console(server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    admin = server.account("operator", role="admin")
    user = server.account("alice")
    renter = {"Authorization": f"Bearer {user}"}
    rental = httpx.post(
        server.url + "/api/v1/rentals", json={"country": "US"}, headers=renter, timeout=30
    ).json()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/console")
    page.fill("#api-key", admin)
    page.click("#signin-form button[type=submit]")
    page.locator("[data-testid=pool-counts]").wait_for(timeout=WAIT_MS)
    page.click("#tabs a[data-tab=abuse]")
    filters = page.locator("[data-testid=filters]")
    expect(filters).to_contain_text("No filters", timeout=WAIT_MS)

    form = page.locator("[data-testid=filter-form]")
    form.locator("select[aria-label='rule field']").select_option("source")
    form.locator("select[aria-label='rule action']").select_option("hold")
    form.locator("input[aria-label='rule pattern']").fill("SUSPECT")
    form.get_by_role("button", name="Add rule").click()
    rule_row = filters.locator("tr", has_text="SUSPECT")
    expect(rule_row).to_contain_text("hold", timeout=WAIT_MS)

    deliver_screened(server, rental["number"], "Your code is 774411", source="SUSPECT")
    messages = server.url + f"/api/v1/rentals/{rental['id']}/messages"
    assert httpx.get(messages, headers=renter, timeout=30).json()["messages"] == []

    page.click("#tabs a[data-tab=pool]")
    page.click("#tabs a[data-tab=abuse]")
    held_row = page.locator("[data-testid=held] tr", has_text="774411")
    expect(held_row).to_contain_text("hold rule on source", timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "console-filters.png"), full_page=True)
    held_row.get_by_role("button", name="Release").click()
    expect(page.locator("[data-testid=held]")).to_contain_text("No held messages", timeout=WAIT_MS)
    texts = [m["text"] for m in httpx.get(messages, headers=renter, timeout=30).json()["messages"]]
    assert texts == ["Your code is 774411"]

    rule_row.get_by_role("button", name="Delete").click()
    expect(filters).to_contain_text("No filters", timeout=WAIT_MS)
    assert errors == []
