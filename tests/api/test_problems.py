"""Errors are RFC 9457 problem documents: a stable ``type``, a title, the status, a
sentence in ``detail``; bad input is a 4xx, never a 500."""

from __future__ import annotations

import httpx
from api_support import MakeAccount, SeedNumbers, auth

PROBLEM = "application/problem+json"


def check_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["type"] == f"https://smslocker.dev/problems/{kind}"
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


async def test_unknown_route_and_method(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account("alice")
    check_problem(await client.get("/api/v1/nothing", headers=auth(key)), 404, "not-found")
    check_problem(
        await client.delete("/api/v1/rentals", headers=auth(key)), 405, "method-not-allowed"
    )


async def test_validation_errors_say_what_and_where(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account("alice")
    response = await client.post(
        "/api/v1/rentals", json={"country": "USA", "duration_s": "soon"}, headers=auth(key)
    )
    body = check_problem(response, 422, "validation-error")
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {tuple(error["location"]) for error in errors} == {
        ("body", "country"),
        ("body", "duration_s"),
    }
    assert "country" in str(body["detail"]) or "duration_s" in str(body["detail"])


async def test_domain_errors(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    _, key = await make_account("alice", balance=0)
    await seed_numbers(1)
    response = await client.post("/api/v1/rentals", json={}, headers=auth(key))
    body = check_problem(response, 402, "insufficient-credit")
    assert body["instance"] == "/api/v1/rentals"
    assert body["detail"] == "balance 0 does not cover 100"

    response = await client.post("/api/v1/rentals/rnt_x/release", headers=auth(key))
    check_problem(response, 404, "rental-not-found")


async def test_malformed_bodies_are_4xx(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _, key = await make_account("alice")
    cases = [
        (b"{", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"country=US", "application/x-www-form-urlencoded"),
        (b"null", "application/json"),
        (b'{"country": null, "service": ["a"]}', "application/json"),
    ]
    for content, content_type in cases:
        response = await client.post(
            "/api/v1/rentals",
            content=content,
            headers={**auth(key), "content-type": content_type},
        )
        assert 400 <= response.status_code < 500, (content, response.text)
        assert response.headers["content-type"] == PROBLEM


async def test_nul_and_huge_values_are_4xx(
    client: httpx.AsyncClient, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    """PostgreSQL refuses NUL in text and ids beyond its integers: caught before SQL."""
    _, key = await make_account("alice")
    await seed_numbers(1)
    rental = (await client.post("/api/v1/rentals", json={}, headers=auth(key))).json()
    requests = [
        ("GET", "/api/v1/numbers", {"service": "a\x00b"}, None),
        ("GET", "/api/v1/numbers", {"carrier": "a\x00b"}, None),
        ("GET", "/api/v1/rentals", {"service": "\x00"}, None),
        ("GET", "/api/v1/rentals", {"before": "rnt_\x00"}, None),
        ("GET", f"/api/v1/rentals/{rental['id']}/messages", {"after": 2**63}, None),
        ("GET", "/api/messages", {"session_id": "\x00"}, None),
        ("POST", "/api/v1/rentals", None, {"number": "+1\x00"}),
        ("POST", "/api/v1/rentals", None, {"service": "s" * 51}),
        ("POST", "/api/v1/rentals", None, {"carrier": "c" * 101}),
        ("POST", "/api/v1/rentals", None, {"duration_s": 10**30}),
        ("POST", f"/api/v1/rentals/{rental['id']}/extend", None, {"duration_s": 10**30}),
    ]
    for method, url, params, body in requests:
        response = await client.request(method, url, params=params, json=body, headers=auth(key))
        assert 400 <= response.status_code < 500, (url, params, body, response.text)
