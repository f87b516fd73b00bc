"""The operator's console in a real headless chromium: a user key cannot open it; an
admin quarantines a number and it disappears from what can be rented; a CSV import
lists its rejected rows; carrier links start and stop; traffic is charted; keys are
created and shown once. Screenshots of each tab go to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from web_support import SCREENSHOTS, LiveServer, live_server

US = ["+14155550101", "+14155550102", "+14155550103"]
GB = ["+447700900101", "+447700900102"]
WAIT_MS = 30_000

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path / "data") as server:
        server.seed(US, "US")
        server.seed(GB, "GB")
        yield server


def open_console(browser: Any, server: LiveServer, key: str) -> tuple[Any, list[str]]:
    """The console signed in with ``key``, and the script errors the page will have."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/console")
    page.fill("#api-key", key)
    page.click("#signin-form button[type=submit]")
    return page, errors


def available(server: LiveServer, key: str) -> int:
    response = httpx.get(
        server.url + "/api/v1/numbers", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    total = response.json()["total"]
    assert isinstance(total, int)
    return total


def test_a_user_key_cannot_open_the_console(server: LiveServer, browser: Any) -> None:
    key = server.account("mallory")
    page, errors = open_console(browser, server, key)
    status = page.locator("#signin-status")
    status.wait_for(timeout=WAIT_MS)
    assert "not an admin key" in status.inner_text()
    assert "403" in status.inner_text()
    assert page.locator("#tabs").is_hidden()
    assert page.locator("[data-testid=pool-counts]").count() == 0
    # The page only says what the API says: the admin API itself refuses the key.
    response = httpx.get(
        server.url + "/api/v1/admin/stats/pool",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 403
    page.screenshot(path=str(SCREENSHOTS / "console-refused.png"))
    assert errors == []


def test_quarantine_takes_a_number_out_of_what_can_be_rented(
    server: LiveServer, browser: Any
) -> None:
    from playwright.sync_api import expect

    admin = server.account("operator", role="admin")
    user = server.account("alice")
    assert available(server, user) == 5

    page, errors = open_console(browser, server, admin)
    counts = page.locator("[data-testid=by-state]")
    counts.wait_for(timeout=WAIT_MS)
    expect(counts.locator("[data-key=FREE]")).to_contain_text("5")
    expect(page.locator("[data-testid=by-country] [data-key=US]")).to_contain_text("3")

    page.fill("#number-search", US[0])
    page.click("#number-search + button")
    detail = page.locator(f".number-detail[data-number='{US[0]}']")
    detail.wait_for(timeout=WAIT_MS)
    detail.locator("[data-testid=quarantine]").click()
    expect(detail.locator(".badge")).to_have_text("QUARANTINE", timeout=WAIT_MS)
    expect(counts.locator("[data-key=QUARANTINE]")).to_contain_text("1", timeout=WAIT_MS)

    # Gone from what a renter can rent: the count, and renting that very number.
    assert available(server, user) == 4
    response = httpx.post(
        server.url + "/api/v1/rentals",
        json={"number": US[0]},
        headers={"Authorization": f"Bearer {user}"},
        timeout=30,
    )
    assert response.status_code != 201, response.text
    renter = browser.new_page()
    renter.goto(server.url + "/")
    renter.fill("#api-key", user)
    renter.click("#signin-form button[type=submit]")
    expect(renter.locator(".choice[data-country=US]")).to_contain_text(
        "2 available", timeout=WAIT_MS
    )

    # A CSV import: progress, then the rejected rows with their line and reason.
    csv = "number,country\n+14155550110,US\nnot-a-number,US\n+14155550111,US\n"
    page.set_input_files(
        "#csv-file", files=[{"name": "numbers.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.fill("#csv-connector", "sim")
    page.click("#csv-connector + button")
    rejected = page.locator("[data-testid=import-rejected] tbody tr")
    expect(rejected).to_have_count(1, timeout=WAIT_MS)
    assert "not-a-number" in rejected.inner_text()
    expect(page.locator("[data-testid=pool-total]")).to_have_text("7 numbers", timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "console-pool.png"), full_page=True)
    assert errors == []


def test_carrier_links_traffic_abuse_and_accounts(server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    admin = server.account("operator", role="admin")
    user = server.account("alice")
    headers = {"Authorization": f"Bearer {admin}"}
    for body in (
        {"name": "carrier-a", "host": "127.0.0.1", "port": 2775, "system_id": "esme"},
        {"name": "twilio-in", "bind": "http", "http_secret": "s3cret"},
    ):
        response = httpx.post(
            server.url + "/api/v1/admin/connectors", json=body, headers=headers, timeout=30
        )
        assert response.status_code == 201, response.text
    rental = httpx.post(
        server.url + "/api/v1/rentals",
        json={"country": "US", "service": "google"},
        headers={"Authorization": f"Bearer {user}"},
        timeout=30,
    ).json()
    server.deliver(rental["number"], "G-123456 is your Google code.")
    server.deliver(GB[1], "nobody rented this one")

    page, errors = open_console(browser, server, admin)
    page.locator("[data-testid=pool-counts]").wait_for(timeout=WAIT_MS)

    page.click("#tabs a[data-tab=carriers]")
    row = page.locator("[data-testid=connectors] tr", has_text="carrier-a")
    expect(row).to_contain_text("receiver", timeout=WAIT_MS)
    expect(page.locator("[data-testid=connectors] tr", has_text="twilio-in")).to_contain_text(
        "/api/v1/ingest/twilio-in"
    )
    row.get_by_role("button", name="Stop").click()
    expect(row.locator(".badge")).to_have_text("stopped", timeout=WAIT_MS)
    expect(row.get_by_role("button", name="Start")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "console-carriers.png"), full_page=True)

    page.click("#tabs a[data-tab=traffic]")
    expect(page.locator("[data-testid=messages-received] .stat")).to_have_text("2", timeout=WAIT_MS)
    expect(page.locator("[data-testid=messages-routed] .stat")).to_have_text("1")
    expect(page.locator("[data-testid=messages-unmatched] .stat")).to_have_text("1")
    page.locator("[data-testid=chart-messages] canvas").wait_for(timeout=WAIT_MS)
    page.screenshot(path=str(SCREENSHOTS / "console-traffic.png"), full_page=True)

    page.click("#tabs a[data-tab=abuse]")
    expect(page.locator("[data-testid=unmatched]")).to_contain_text(
        "nobody rented this one", timeout=WAIT_MS
    )
    # The guard's sections show their data, or say plainly that this server lacks them.
    for name in ("alerts", "held", "audit"):
        shown = page.locator(f"[data-testid={name}] > *").first
        shown.wait_for(timeout=WAIT_MS)
        assert page.locator(f"[data-testid={name}] .note[data-kind=error]").count() == 0
    accounts = page.locator("[data-testid=abuse-accounts] tr", has_text="alice")
    accounts.get_by_role("button", name="Verify").click()
    expect(accounts.locator(".badge[data-tier=verified]")).to_be_visible(timeout=WAIT_MS)
    page.once("dialog", lambda dialog: dialog.accept())
    accounts.get_by_role("button", name="Suspend").click()
    expect(accounts.locator(".badge[data-state=suspended]")).to_be_visible(timeout=WAIT_MS)
    assert available_status(server, user) == 403
    page.screenshot(path=str(SCREENSHOTS / "console-abuse.png"), full_page=True)

    page.click("#tabs a[data-tab=accounts]")
    page.fill("#new-account-name", "bob")
    page.click("#new-account-name ~ button")
    detail = page.locator("#account-detail")
    expect(detail).to_contain_text("bob", timeout=WAIT_MS)
    detail.get_by_role("button", name="Create key").click()
    new_key = detail.locator("[data-testid=new-key]")
    new_key.wait_for(timeout=WAIT_MS)
    key = new_key.inner_text()
    assert available(server, key) == 4
    page.screenshot(path=str(SCREENSHOTS / "console-accounts.png"), full_page=True)
    # Revoked from the console: the key stops working at once.
    page.once("dialog", lambda dialog: dialog.accept())
    detail.get_by_role("button", name="Revoke").click()
    expect(detail).to_contain_text("revoked", timeout=WAIT_MS)
    assert available_status(server, key) == 401
    assert errors == []


def available_status(server: LiveServer, key: str) -> int:
    response = httpx.get(
        server.url + "/api/v1/numbers", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    return response.status_code
