"""Admin API: the pool — who may call it, list, show, CSV import, quarantine, retire, free."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from api_support import POLICY, T0, FakeClock, MakeAccount, SeedNumbers, auth

from smslocker.platform import Platform
from smslocker.rentals import NumberNotRentable, RentRequest, release, rent

ADMIN_ROUTES = [
    ("GET", "/api/v1/admin/numbers"),
    ("GET", "/api/v1/admin/numbers/+14155550000"),
    ("POST", "/api/v1/admin/numbers/import"),
    ("POST", "/api/v1/admin/numbers/+14155550000/quarantine"),
    ("POST", "/api/v1/admin/numbers/+14155550000/retire"),
    ("POST", "/api/v1/admin/numbers/+14155550000/free"),
    ("GET", "/api/v1/admin/accounts"),
    ("POST", "/api/v1/admin/accounts"),
    ("GET", "/api/v1/admin/accounts/1"),
    ("PATCH", "/api/v1/admin/accounts/1"),
    ("POST", "/api/v1/admin/accounts/1/top-up"),
    ("POST", "/api/v1/admin/accounts/1/adjust"),
    ("GET", "/api/v1/admin/accounts/1/ledger"),
    ("POST", "/api/v1/admin/accounts/1/keys"),
    ("GET", "/api/v1/admin/accounts/1/keys"),
    ("DELETE", "/api/v1/admin/keys/abcdefghijkm"),
    ("GET", "/api/v1/admin/prices"),
    ("PUT", "/api/v1/admin/prices"),
    ("DELETE", "/api/v1/admin/prices"),
    ("GET", "/api/v1/admin/messages/unmatched"),
    ("POST", "/api/v1/admin/connectors"),
    ("GET", "/api/v1/admin/connectors"),
    ("GET", "/api/v1/admin/connectors/carrier"),
    ("PATCH", "/api/v1/admin/connectors/carrier"),
    ("DELETE", "/api/v1/admin/connectors/carrier"),
    ("POST", "/api/v1/admin/connectors/carrier/start"),
    ("POST", "/api/v1/admin/connectors/carrier/stop"),
]


async def admin(make_account: MakeAccount) -> dict[str, str]:
    _account_id, key = await make_account("root", 0, "admin")
    return auth(key)


async def test_every_admin_route_needs_an_admin_key(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _account_id, user_key = await make_account("alice")
    for method, path in ADMIN_ROUTES:
        anonymous = await client.request(method, path, json={})
        assert anonymous.status_code == 401, (method, path)
        as_user = await client.request(method, path, json={}, headers=auth(user_key))
        assert as_user.status_code == 403, (method, path)
        assert as_user.headers["content-type"] == "application/problem+json"


async def test_numbers_are_listed_by_id_with_filters_and_pages(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    headers = await admin(make_account)
    us = await seed_numbers(3, country="US")
    gb = await seed_numbers(2, country="GB", connector="uk-carrier")
    first = await client.get("/api/v1/admin/numbers?limit=2", headers=headers)
    assert first.status_code == 200
    page = first.json()
    assert [n["number"] for n in page["numbers"]] == us[:2]
    rest = await client.get(
        f"/api/v1/admin/numbers?limit=2&after={page['next_after']}", headers=headers
    )
    assert [n["number"] for n in rest.json()["numbers"]] == [us[2], gb[0]]
    by_country = await client.get("/api/v1/admin/numbers?country=gb", headers=headers)
    assert [n["number"] for n in by_country.json()["numbers"]] == gb
    assert by_country.json()["next_after"] is None
    by_connector = await client.get("/api/v1/admin/numbers?connector=uk-carrier", headers=headers)
    assert len(by_connector.json()["numbers"]) == 2
    by_state = await client.get("/api/v1/admin/numbers?state=RETIRED", headers=headers)
    assert by_state.json()["numbers"] == []
    number = page["numbers"][0]
    assert (number["state"], number["country"], number["connector"]) == ("FREE", "US", "sim")
    assert number["health"]["probes_ok"] == 0
    for bad in ("state=GONE", "country=USA", "limit=0", "after=-1", "connector=a%00b"):
        response = await client.get(f"/api/v1/admin/numbers?{bad}", headers=headers)
        assert response.status_code == 422, bad


async def test_a_number_shows_its_rentals_newest_first(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    clock: FakeClock,
) -> None:
    headers = await admin(make_account)
    account_id, _key = await make_account("alice")
    (number,) = await seed_numbers(1)
    first = await rent(platform.db, account_id, RentRequest(number=number), clock.now, POLICY)
    await release(platform.db, account_id, first.id, clock.now, POLICY)
    response = await client.get(f"/api/v1/admin/numbers/{number}", headers=headers)
    assert response.status_code == 200
    shown = response.json()
    assert shown["number"] == number
    assert shown["state"] == "RELEASED"
    assert [(r["id"], r["account_id"], r["status"]) for r in shown["rentals"]] == [
        (first.id, account_id, "completed")
    ]
    assert shown["service_tags"] == []
    without_plus = await client.get(f"/api/v1/admin/numbers/{number[1:]}", headers=headers)
    assert without_plus.json()["id"] == shown["id"]
    missing = await client.get("/api/v1/admin/numbers/+14155559999", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/number-not-found")
    garbage = await client.get("/api/v1/admin/numbers/not-a-number", headers=headers)
    assert garbage.status_code == 422


CSV = (
    "number,country,carrier,tags\n"
    "+14155550100,US,Acme,sim;otp\n"
    "not a number,US,,\n"
    "\n"
    "+14155550101,,,\n"
    "+14155550100,US,,\n"
)


def check_report(report: dict[str, Any]) -> None:
    assert (report["imported"], report["updated"], report["rows"]) == (2, 0, 4)
    assert [(r["line"], r["number"]) for r in report["rejected"]] == [
        (3, "not a number"),
        (6, "+14155550100"),
    ]
    assert "duplicate of line 2" in report["rejected"][1]["reason"]


async def test_a_csv_body_imports_and_lists_the_rejected_rows(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    response = await client.post(
        "/api/v1/admin/numbers/import?connector=carrier-a",
        content=CSV.encode(),
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    check_report(response.json())
    shown = (await client.get("/api/v1/admin/numbers/+14155550100", headers=headers)).json()
    assert (shown["carrier"], shown["connector"], shown["tags"]) == (
        "Acme",
        "carrier-a",
        ["sim", "otp"],
    )
    again = await client.post(
        "/api/v1/admin/numbers/import",
        content=CSV.encode(),
        headers={**headers, "Content-Type": "text/csv; charset=utf-8"},
    )
    assert (again.json()["imported"], again.json()["updated"]) == (0, 2)


async def test_a_multipart_upload_imports_too(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    headers = await admin(make_account)
    response = await client.post(
        "/api/v1/admin/numbers/import",
        files={"file": ("numbers.csv", ("\ufeff" + CSV).encode(), "text/csv")},
        data={"note": "ignored"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    check_report(response.json())


@pytest.mark.parametrize(
    ("content", "content_type", "status", "kind"),
    [
        (b"country\nUS\n", "text/csv", 422, "invalid-csv"),
        (b"", "text/csv", 422, "invalid-csv"),
        (b"number\n\xff\xfe\n", "text/csv", 422, "invalid-csv"),
        (b"number,carrier\n+14155550100,a\x00b\n", "text/csv", 422, "invalid-csv"),
        (b"number\n", "application/pdf", 415, "unsupported-media-type"),
        (b"--x\r\n\r\n--x--\r\n", "multipart/form-data; boundary=x", 400, "bad-request"),
        (b"junk", "multipart/form-data", 400, "bad-request"),
    ],
)
async def test_what_is_no_numbers_csv_is_refused(
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    content: bytes,
    content_type: str,
    status: int,
    kind: str,
) -> None:
    headers = await admin(make_account)
    response = await client.post(
        "/api/v1/admin/numbers/import",
        content=content,
        headers={**headers, "Content-Type": content_type},
    )
    assert response.status_code == status, response.text
    assert response.json()["type"].endswith("/" + kind)


async def test_quarantine_retire_and_free_follow_the_lifecycle(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    clock: FakeClock,
) -> None:
    headers = await admin(make_account)
    account_id, _key = await make_account("alice")
    first, second, third = await seed_numbers(3)
    base = "/api/v1/admin/numbers"

    timed = await client.post(f"{base}/{first}/quarantine", headers=headers)
    assert timed.status_code == 200
    assert timed.json()["state"] == "QUARANTINE"
    expected = T0 + timedelta(seconds=platform.settings.policy.quarantine_s)
    assert timed.json()["state_until"] == expected.isoformat().replace("+00:00", "Z")
    with pytest.raises(NumberNotRentable):
        await rent(platform.db, account_id, RentRequest(number=first), clock.now, POLICY)
    short = await client.post(
        f"{base}/{second}/quarantine", json={"duration_s": 60}, headers=headers
    )
    assert short.json()["state_until"] == (T0 + timedelta(seconds=60)).isoformat().replace(
        "+00:00", "Z"
    )
    forever = await client.post(
        f"{base}/{second}/quarantine", json={"indefinite": True}, headers=headers
    )
    assert forever.json()["state_until"] is None

    freed = await client.post(f"{base}/{first}/free", headers=headers)
    assert (freed.status_code, freed.json()["state"]) == (200, "FREE")
    not_quarantined = await client.post(f"{base}/{first}/free", headers=headers)
    assert not_quarantined.status_code == 409
    assert not_quarantined.json()["type"].endswith("/invalid-transition")

    retired = await client.post(f"{base}/{third}/retire", headers=headers)
    assert retired.json()["state"] == "RETIRED"
    for action in ("retire", "quarantine", "free"):
        response = await client.post(f"{base}/{third}/{action}", headers=headers)
        assert response.status_code == 409, action
    unknown = await client.post(f"{base}/+14155559999/retire", headers=headers)
    assert unknown.status_code == 404
    bad = await client.post(f"{base}/{first}/quarantine", json={"duration_s": 0}, headers=headers)
    assert bad.status_code == 422


async def test_a_rented_number_is_not_freed_while_its_rental_runs(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    clock: FakeClock,
) -> None:
    headers = await admin(make_account)
    account_id, _key = await make_account("alice")
    (number,) = await seed_numbers(1)
    rental = await rent(platform.db, account_id, RentRequest(number=number), clock.now, POLICY)
    base = f"/api/v1/admin/numbers/{number}"
    assert (await client.post(f"{base}/quarantine", headers=headers)).status_code == 200
    busy = await client.post(f"{base}/free", headers=headers)
    assert busy.status_code == 409
    assert busy.json()["type"].endswith("/number-busy")

    clock.advance(10)
    await release(platform.db, account_id, rental.id, clock.now, POLICY)
    shown = (await client.get(base, headers=headers)).json()
    assert shown["state"] == "QUARANTINE"  # the end of the rental left it where it was put
    assert (await client.post(f"{base}/free", headers=headers)).json()["state"] == "FREE"
    # Free, but not rentable before the released rental's window (grace) has closed.
    with pytest.raises(NumberNotRentable):
        await rent(platform.db, account_id, RentRequest(number=number), clock.now, POLICY)
    clock.advance(POLICY.grace_s + 1)
    again = await rent(platform.db, account_id, RentRequest(number=number), clock.now, POLICY)
    assert again.number == number
