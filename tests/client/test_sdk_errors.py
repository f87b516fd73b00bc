"""Every typed error of the SDK, raised from a real server answer and carrying its
problem document.

The app in-process answers the errors the API gives today; 429 and 5xx (which no
renter route answers yet) come from an app built with the server's own problem
handling (:mod:`smslocker.api.problems`); what only a proxy or a broken link does
(an HTML error page, a refused connection) from ``httpx.MockTransport`` or a closed port.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from api_support import BASE_URL, MakeAccount, SeedNumbers, auth
from fastapi import FastAPI

from smslocker.api.problems import Problem as ServerProblem
from smslocker.api.problems import install
from smslocker.client import (
    APIError,
    AsyncClient,
    AuthenticationError,
    Client,
    ConflictError,
    InsufficientCredits,
    NetworkError,
    NoNumberAvailable,
    NotFoundError,
    RateLimited,
    ResponseError,
    ServerError,
    SmslockerError,
    ValidationError,
)
from smslocker.client.errors import retry_after

PROBLEMS = "https://smslocker.dev/problems/"


def client_of(app: FastAPI, key: str) -> AsyncClient:
    return AsyncClient(BASE_URL, key, transport=httpx.ASGITransport(app=app))


def answering(problem: ServerProblem) -> FastAPI:
    """An app that answers every request with ``problem``, as the server does."""
    app = FastAPI()
    install(app)

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def answer() -> None:
        raise problem

    return app


async def test_a_wrong_key_is_an_authentication_error(app: FastAPI) -> None:
    async with client_of(app, "sk_wrong") as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.rent()
    problem = caught.value.problem
    assert (caught.value.status, problem.type) == (401, PROBLEMS + "unauthorized")
    assert problem.kind == "unauthorized"
    assert problem.detail == "the API key is not valid"
    assert problem.instance == "/api/v1/rentals"


async def test_a_suspended_account_is_an_authentication_error(
    app: FastAPI, make_account: MakeAccount, user: str
) -> None:
    _admin_id, admin_key = await make_account("root", role="admin")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as admin:
        accounts = (await admin.get("/api/v1/admin/accounts", headers=auth(admin_key))).json()
        [alice] = [a for a in accounts["accounts"] if a["name"] == "alice"]
        response = await admin.patch(
            f"/api/v1/admin/accounts/{alice['id']}",
            json={"status": "suspended"},
            headers=auth(admin_key),
        )
        assert response.status_code == 200, response.text
    async with client_of(app, user) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.rentals()
    assert (caught.value.status, caught.value.problem.kind) == (403, "account-suspended")


async def test_another_accounts_rental_is_not_found(
    async_client: AsyncClient, app: FastAPI, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    rental = await async_client.rent()
    _bob_id, bob_key = await make_account("bob")
    async with client_of(app, bob_key) as bob:
        with pytest.raises(NotFoundError) as caught:
            await bob.rental(rental.id)
        assert caught.value.problem.kind == "rental-not-found"
        with pytest.raises(NotFoundError):
            await bob.rental("../../numbers")  # the id stays one path segment


async def test_nothing_to_rent_is_no_number_available(async_client: AsyncClient) -> None:
    with pytest.raises(NoNumberAvailable) as caught:
        await async_client.rent(country="DE", service="google")
    assert isinstance(caught.value, ConflictError)
    assert (caught.value.status, caught.value.problem.kind) == (409, "no-number-available")


async def test_releasing_twice_is_a_conflict(
    async_client: AsyncClient, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    rental = await async_client.rent()
    await rental.release()
    with pytest.raises(ConflictError) as caught:
        await rental.release()
    assert not isinstance(caught.value, NoNumberAvailable)
    assert caught.value.problem.kind == "rental-not-active"


async def test_an_empty_balance_is_insufficient_credits(
    app: FastAPI, make_account: MakeAccount, seed_numbers: SeedNumbers
) -> None:
    await seed_numbers(1)
    _account_id, key = await make_account("poor", balance=0)
    async with client_of(app, key) as client:
        with pytest.raises(InsufficientCredits) as caught:
            await client.rent()
    assert (caught.value.status, caught.value.problem.kind) == (402, "insufficient-credit")


async def test_bad_input_is_a_validation_error_saying_where(async_client: AsyncClient) -> None:
    with pytest.raises(ValidationError) as caught:
        await async_client.rent(country="USA")
    problem = caught.value.problem
    assert (problem.status, problem.kind) == (422, "validation-error")
    assert [error["location"] for error in problem.extra["errors"]] == [["body", "country"]]
    assert "country" in problem.detail


async def test_429_is_rate_limited_with_retry_after() -> None:
    app = answering(
        ServerProblem(429, "rate-limited", "slow down", headers={"Retry-After": "7"}, limit="rent")
    )
    async with client_of(app, "sk_any") as client:
        with pytest.raises(RateLimited) as caught:
            await client.rent()
    assert caught.value.retry_after == 7.0
    problem = caught.value.problem
    assert (problem.kind, problem.detail, problem.extra["limit"]) == (
        "rate-limited",
        "slow down",
        "rent",
    )


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_a_server_error(status: int) -> None:
    app = answering(ServerProblem(status, "unavailable", "try again"))
    async with client_of(app, "sk_any") as client:
        with pytest.raises(ServerError) as caught:
            await client.available()
    assert (caught.value.status, caught.value.problem.detail) == (status, "try again")


async def test_a_proxy_error_page_is_a_server_error_with_its_text() -> None:
    def proxy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    async with AsyncClient(BASE_URL, "sk_any", transport=httpx.MockTransport(proxy)) as client:
        with pytest.raises(ServerError) as caught:
            await client.rent()
    assert caught.value.problem.type == "about:blank"
    assert "Bad Gateway" in caught.value.problem.detail


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="<html>login</html>"),
        httpx.Response(201, json={"id": "rnt_x"}),
        httpx.Response(201, json=[1, 2]),
    ],
)
async def test_an_unreadable_answer_is_a_response_error(answer: httpx.Response) -> None:
    transport = httpx.MockTransport(lambda request: answer)
    async with AsyncClient(BASE_URL, "sk_any", transport=transport) as client:
        with pytest.raises(ResponseError):
            await client.rent()


async def test_an_unknown_error_status_is_still_an_api_error() -> None:
    app = answering(ServerProblem(418, "teapot", "short and stout"))
    async with client_of(app, "sk_any") as client:
        with pytest.raises(APIError) as caught:
            await client.rent()
    assert type(caught.value) is APIError
    assert caught.value.status == 418


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    async with AsyncClient(f"http://127.0.0.1:{port}", "sk_any") as client:
        with pytest.raises(NetworkError) as caught:
            await client.rent()
    assert isinstance(caught.value, SmslockerError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


async def test_the_sync_client_raises_the_same_errors(
    sync_client_for: Callable[[str], Client], user: str
) -> None:
    def scenario() -> None:
        with sync_client_for(user) as client:
            with pytest.raises(NoNumberAvailable):
                client.rent(country="GB")
            with pytest.raises(NotFoundError):
                client.rental("rnt_missing")
            with pytest.raises(ValidationError):
                client.rent(duration_s=0)
        with sync_client_for("sk_wrong") as client, pytest.raises(AuthenticationError):
            client.available()

    await asyncio.to_thread(scenario)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert retry_after("120", now) == 120.0
    assert retry_after("Tue, 01 Dec 2026 12:00:30 GMT", now) == 30.0
    assert retry_after("Tue, 01 Dec 2026 11:00:00 GMT", now) == 0.0
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None
