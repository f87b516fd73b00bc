"""The rental endpoints: availability, rent, list, get, extend, release, cancel, and the
short forms ``/api/numbers`` and ``/api/rent``. Both databases."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest
from api_support import POLICY, T0, FakeClock, MakeAccount, SeedNumbers, auth

from smslocker import rentals
from smslocker.platform import Platform
from smslocker.pool.numbers import get_number

RENTAL_FIELDS = {
    "id",
    "number",
    "service",
    "country",
    "status",
    "started_at",
    "expires_at",
    "ended_at",
    "end_reason",
    "price",
    "refunded",
    "messages_count",
}


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def rent(client: httpx.AsyncClient, key: str, **body: object) -> dict[str, object]:
    response = await client.post("/api/v1/rentals", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    rental: dict[str, object] = response.json()
    return rental


# --------------------------------------------------------------------------- availability


async def test_numbers_counts_per_country_and_carrier_with_price(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account("alice")
    await seed_numbers(3, country="US", carrier="Verizon")
    await seed_numbers(1, country="US", carrier="AT&T", start=10)
    await seed_numbers(2, country="GB", carrier="EE")
    await seed_numbers(1, country="GB", start=50, state="QUARANTINE")
    await rentals.set_price(platform.db, 250, service="google", country="GB")

    response = await client.get("/api/v1/numbers", params={"service": "google"}, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 6
    assert body["numbers"] is None  # users see counts only
    assert body["available"] == [
        {"country": "GB", "carrier": "EE", "service": "google", "count": 2, "price": 250},
        {"country": "US", "carrier": "AT&T", "service": "google", "count": 1, "price": 100},
        {"country": "US", "carrier": "Verizon", "service": "google", "count": 3, "price": 100},
    ]

    response = await client.get(
        "/api/v1/numbers", params={"country": "us", "carrier": "Verizon"}, headers=auth(key)
    )
    assert response.json()["available"] == [
        {"country": "US", "carrier": "Verizon", "service": None, "count": 3, "price": 100}
    ]


async def test_numbers_leave_out_numbers_barred_for_the_service(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account("alice")
    numbers = await seed_numbers(3)
    number = await get_number(platform.db, numbers[0])
    assert number is not None
    await rentals.mark_failing(platform.db, number.id, "whatsapp", platform.now())

    async def count(**params: str) -> int:
        response = await client.get("/api/v1/numbers", params=params, headers=auth(key))
        total: int = response.json()["total"]
        return total

    assert await count(service="whatsapp") == 2
    assert await count(service="google") == 3
    assert await count() == 3
    await rent(client, key, service="google")
    assert await count(service="google") == 2


async def test_admins_also_see_the_numbers(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _, key = await make_account("root", role="admin")
    numbers = await seed_numbers(3, country="DE", carrier="Telekom")
    response = await client.get("/api/v1/numbers", params={"limit": 2}, headers=auth(key))
    body = response.json()
    assert body["total"] == 3
    assert [n["number"] for n in body["numbers"]] == numbers[:2]
    assert body["numbers"][0] == {
        "number": numbers[0],
        "country": "DE",
        "carrier": "Telekom",
        "line_type": "mobile",
        "connector": "sim",
    }


@pytest.mark.parametrize(
    "params",
    [{"country": "USA"}, {"country": "1"}, {"service": "a b"}, {"service": "x" * 51}, {"limit": 0}],
)
async def test_numbers_bad_filters_are_422(
    client: httpx.AsyncClient, make_account: MakeAccount, params: dict[str, object]
) -> None:
    _, key = await make_account("alice")
    response = await client.get("/api/v1/numbers", params=params, headers=auth(key))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


# --------------------------------------------------------------------------- rent


async def test_rent_by_filters(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _, key = await make_account("alice")
    us = await seed_numbers(2, country="US")
    await seed_numbers(2, country="GB")
    response = await client.post(
        "/api/v1/rentals",
        json={"country": "us", "service": "google", "duration_s": 300},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    rental = response.json()
    assert set(rental) == RENTAL_FIELDS
    assert response.headers["location"] == f"/api/v1/rentals/{rental['id']}"
    assert rental["number"] in us
    assert rental["service"] == "google"
    assert rental["country"] == "US"
    assert rental["status"] == "active"
    assert rental["price"] == 100
    assert rental["refunded"] == 0
    assert when(rental["started_at"]) == T0
    assert (when(rental["expires_at"]) - T0).total_seconds() == 300
    assert rental["started_at"].endswith("Z")


async def test_rent_a_number_by_name_and_the_errors(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _, key = await make_account("alice", balance=150)
    numbers = await seed_numbers(2)
    rental = await rent(client, key, number=numbers[1])
    assert rental["number"] == numbers[1]

    cases = [
        ({"number": numbers[1]}, 409, "number-not-rentable"),
        ({"number": "+14155559999"}, 404, "number-not-found"),
        ({"number": "not a number"}, 404, "number-not-found"),
        ({"number": numbers[0]}, 402, "insufficient-credit"),
        ({"country": "FR"}, 409, "no-number-available"),
        ({"country": "United States"}, 422, "validation-error"),
        ({"duration_s": 0}, 422, "validation-error"),
        ({"colour": "blue"}, 422, "validation-error"),
    ]
    for body, status, kind in cases:
        response = await client.post("/api/v1/rentals", json=body, headers=auth(key))
        assert response.status_code == status, (body, response.text)
        assert response.json()["type"].endswith("/" + kind), body


async def test_rent_needs_a_json_object(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account("alice")
    for content in (b"", b"[]", b"{", b'"x"'):
        response = await client.post(
            "/api/v1/rentals",
            content=content,
            headers={**auth(key), "content-type": "application/json"},
        )
        assert response.status_code == 422, content


async def test_duration_is_capped_by_the_policy(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _, key = await make_account("alice")
    await seed_numbers(1)
    rental = await rent(client, key, duration_s=10**9)
    seconds = (when(str(rental["expires_at"])) - T0).total_seconds()
    assert seconds == POLICY.max_rental_s


async def test_rent_publishes_rental_created(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    account_id, key = await make_account("alice")
    await seed_numbers(1)
    async with platform.bus.subscribe(f"account:{account_id}") as events:
        rental = await rent(client, key)
        async with asyncio.timeout(5):
            channel, event = await anext(events)
    assert channel == f"account:{account_id}"
    assert event["type"] == "rental.created"
    assert event["rental_id"] == rental["id"]
    assert event["rental"] == rental


# --------------------------------------------------------------------------- read


async def test_get_and_list_my_rentals(
    client: httpx.AsyncClient,
    clock: FakeClock,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account("alice")
    await seed_numbers(5)
    made = []
    for service in ("google", "telegram", "google", "google"):
        made.append(await rent(client, key, service=service))
        clock.advance(1)
    response = await client.post(f"/api/v1/rentals/{made[0]['id']}/release", headers=auth(key))
    assert response.status_code == 200

    response = await client.get(f"/api/v1/rentals/{made[1]['id']}", headers=auth(key))
    assert response.status_code == 200
    assert response.json() == made[1]

    response = await client.get("/api/v1/rentals", headers=auth(key))
    page = response.json()
    assert [r["id"] for r in page["rentals"]] == [r["id"] for r in reversed(made)]
    assert page["next_before"] is None

    pages: list[str] = []
    before = None
    while True:
        params: dict[str, object] = {"limit": 2, "service": "google"}
        if before is not None:
            params["before"] = before
        page = (await client.get("/api/v1/rentals", params=params, headers=auth(key))).json()
        pages += [r["id"] for r in page["rentals"]]
        before = page["next_before"]
        if before is None:
            break
    assert pages == [made[3]["id"], made[2]["id"], made[0]["id"]]

    response = await client.get(
        "/api/v1/rentals", params={"status": "completed"}, headers=auth(key)
    )
    assert [r["id"] for r in response.json()["rentals"]] == [made[0]["id"]]
    response = await client.get("/api/v1/rentals", params={"status": "lost"}, headers=auth(key))
    assert response.status_code == 422


async def test_unknown_rental_ids_are_404(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account("alice")
    for rental_id in ("rnt_01JZ3K4X8QAAAAAAAAAAAAAAAA", "x", "%00", "a" * 300, "é"):
        response = await client.get(f"/api/v1/rentals/{rental_id}", headers=auth(key))
        assert response.status_code == 404, rental_id
        assert response.json()["type"].endswith("/rental-not-found")


# --------------------------------------------------------------------------- extend / end


async def test_extend(
    client: httpx.AsyncClient,
    clock: FakeClock,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account("alice")
    await seed_numbers(1)
    rental = await rent(client, key, duration_s=600)
    path = f"/api/v1/rentals/{rental['id']}/extend"

    response = await client.post(path, json={"duration_s": 120}, headers=auth(key))
    assert response.status_code == 200, response.text
    assert (when(response.json()["expires_at"]) - T0).total_seconds() == 720

    response = await client.post(path, headers=auth(key))  # no body: the standard length
    assert (when(response.json()["expires_at"]) - T0).total_seconds() == 1320

    response = await client.post(path, json={"duration_s": 10**6}, headers=auth(key))
    assert (when(response.json()["expires_at"]) - T0).total_seconds() == POLICY.max_rental_s
    response = await client.post(path, json={"duration_s": 60}, headers=auth(key))
    assert response.status_code == 422
    assert response.json()["type"].endswith("/rental-limit-reached")

    response = await client.post(path, json={"duration_s": -1}, headers=auth(key))
    assert response.status_code == 422
    response = await client.post(path, json={"minutes": 1}, headers=auth(key))
    assert response.status_code == 422

    clock.advance(POLICY.max_rental_s)
    response = await client.post(path, json={"duration_s": 60}, headers=auth(key))
    assert response.status_code == 409
    assert response.json()["type"].endswith("/rental-not-active")


@pytest.mark.parametrize(("action", "reason"), [("release", "completed"), ("cancel", "cancelled")])
async def test_release_and_cancel_refund_a_rental_without_sms(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    action: str,
    reason: str,
) -> None:
    account_id, key = await make_account("alice", balance=1000)
    await seed_numbers(1)
    rental = await rent(client, key)
    assert await rentals.balance_of(platform.db, account_id) == 900

    response = await client.post(f"/api/v1/rentals/{rental['id']}/{action}", headers=auth(key))
    assert response.status_code == 200, response.text
    ended = response.json()
    assert ended["status"] == reason
    assert ended["end_reason"] is not None
    assert ended["ended_at"] is not None
    assert ended["refunded"] == 100
    assert await rentals.balance_of(platform.db, account_id) == 1000

    for again in ("release", "cancel", "extend"):
        response = await client.post(f"/api/v1/rentals/{rental['id']}/{again}", headers=auth(key))
        assert response.status_code == 409, again
        assert response.json()["type"].endswith("/rental-not-active")


async def test_release_publishes_its_event(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _, key = await make_account("alice")
    await seed_numbers(1)
    rental = await rent(client, key)
    async with platform.bus.subscribe(f"rental:{rental['id']}") as events:
        await client.post(f"/api/v1/rentals/{rental['id']}/release", headers=auth(key))
        async with asyncio.timeout(5):
            _channel, event = await anext(events)
    assert event["type"] == "rental.released"
    assert event["rental"]["status"] == "completed"


# --------------------------------------------------------------------------- short forms


async def test_short_forms(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _, key = await make_account("alice")
    numbers = await seed_numbers(2)
    response = await client.get(
        "/api/numbers", params={"country": "US", "service": "google"}, headers=auth(key)
    )
    assert response.status_code == 200
    assert response.json()["total"] == 2

    response = await client.post("/api/rent", json={"number": numbers[0]}, headers=auth(key))
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["session_id"] == session["id"]
    assert session["expires_in"] == POLICY.rental_ttl_s
    assert session["number"] == numbers[0]
    assert set(session) == RENTAL_FIELDS | {"session_id", "expires_in"}

    response = await client.get(
        "/api/messages", params={"session_id": session["session_id"]}, headers=auth(key)
    )
    assert response.status_code == 200
    assert response.json() == {"messages": [], "next_after": 0}

    response = await client.get("/api/messages", headers=auth(key))
    assert response.status_code == 422
    response = await client.get("/api/messages", params={"session_id": "nope"}, headers=auth(key))
    assert response.status_code == 404
