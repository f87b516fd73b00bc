"""schemathesis against the app's own ``/openapi.json``: no input, valid or not, makes a 5xx.

Every operation of the schema (all routers: renters', operators', webhooks, push,
ingest) gets generated requests — conforming ones and ones that break the schema —
sent with a user key, an admin key or none, and, for routes with a ``{rental_id}``,
sometimes a real rental's id. Both databases.

Hypothesis runs in a worker thread; each request is sent on the test's event loop,
where the platform and its database live. Examples per run: a few in ``make test``,
many under ``HYPOTHESIS_PROFILE=fuzz`` (``make fuzz``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
import schemathesis
from api_support import BASE_URL, MakeAccount, SeedNumbers, auth
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode

from smslocker.api import longpoll

FUZZING = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
#: Examples per operation and run.
EXAMPLES = min(settings.default.max_examples, 500) if FUZZING else 10

Operation = Any


def operations(app: FastAPI) -> list[tuple[Operation, Any]]:
    """(operation, strategy of its cases: conforming or not) for every operation."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        found.append((operation, st.one_of(*(operation.as_strategy(mode) for mode in modes))))
    return found


def streams(operation: Operation) -> bool:
    """An event stream answers forever: called only without a key (401 at once)."""
    responses = operation.definition.raw.get("responses", {})
    return "text/event-stream" in responses.get("200", {}).get("content", {})


def request_of(case: Any, key: str | None) -> dict[str, Any]:
    """The case as ``httpx.AsyncClient.request`` keyword arguments."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {
        name: value
        for name, value in (kwargs.pop("headers", None) or {}).items()
        if name.lower() not in ("connection", "authorization")
    }
    if key is not None:
        headers.update(auth(key))
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    data = kwargs.pop("data", None)
    if isinstance(data, str | bytes):
        kwargs["content"] = data
    elif data is not None:
        kwargs["data"] = data
    kwargs["headers"] = headers
    return kwargs


@pytest.mark.slow
async def test_no_input_makes_a_server_error(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(longpoll, "MAX_WAIT_S", 0.05)  # long-polls answer at once
    _, user = await make_account("alice", balance=10**9)
    _, admin = await make_account("root", role="admin", balance=10**9)
    await seed_numbers(30)
    response = await client.post("/api/v1/rentals", json={}, headers=auth(user))
    rental_id = response.json()["id"]
    loop = asyncio.get_running_loop()
    cases = operations(app)
    assert len(cases) > 10

    def send(case: Any, key: str | None) -> httpx.Response | None:
        try:
            kwargs = request_of(case, key)
        except (UnicodeEncodeError, ValueError):  # not even sendable over HTTP
            return None
        future = asyncio.run_coroutine_threadsafe(client.request(**kwargs), loop)
        try:
            return future.result(timeout=30)
        except (httpx.InvalidURL, UnicodeEncodeError, httpx.LocalProtocolError):
            return None

    def explore(operation: Operation, strategy: Any) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=strategy, key=st.sampled_from([user, admin, None]), real=st.booleans())
        def one_case(case: Any, key: str | None, real: bool) -> None:
            if streams(operation):
                key = None
            elif real and "rental_id" in (case.path_parameters or {}):
                case.path_parameters["rental_id"] = rental_id
            response = send(case, key)
            if response is not None:
                case.validate_response(response, checks=[not_a_server_error])

        one_case()

    def explore_all() -> None:
        for operation, strategy in cases:
            explore(operation, strategy)

    await asyncio.to_thread(explore_all)
