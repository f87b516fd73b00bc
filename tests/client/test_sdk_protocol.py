"""The SDK's flows driven by hand, with a fake clock: no server, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from smslocker.client import CodeTimeout, ConfigurationError
from smslocker.client.protocol import (
    Connection,
    Flow,
    Pause,
    Request,
    list_rentals,
    rent,
    wait_for_code,
)

NO_CODE = {
    "rental_id": "rnt_1",
    "code": None,
    "candidate": None,
    "message_id": None,
    "source": None,
    "received_at": None,
}
A_CODE = {
    "rental_id": "rnt_1",
    "code": "482913",
    "candidate": {"value": "482-913", "score": 0.9, "kind": "digits"},
    "message_id": 7,
    "source": "Google",
    "received_at": "2026-12-01T12:00:01Z",
}


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def step(flow: Flow[Any], answer: Any) -> Request | Pause:
    result = flow.send(answer)
    assert isinstance(result, Request | Pause)
    return result


def test_wait_for_code_asks_the_server_to_wait_and_polls_until_the_timeout() -> None:
    clock = Clock()
    flow = wait_for_code("rnt_1", timeout=120, after=3, poll_s=50, clock=clock)
    first = next(flow)
    assert first == Request(
        "GET", "/api/v1/rentals/rnt_1/code", params={"after": 3, "wait": 50}, wait_s=50
    )
    clock.now += 50  # the server held the poll, nothing came
    second = step(flow, NO_CODE)
    assert isinstance(second, Request)
    assert second.wait_s == 50
    clock.now += 50
    third = step(flow, NO_CODE)
    assert isinstance(third, Request)
    assert third.wait_s == pytest.approx(20)  # only what is left of the 120 s
    clock.now += 20
    with pytest.raises(CodeTimeout, match="within 120 s"):
        flow.send(NO_CODE)


def test_wait_for_code_returns_the_code_with_its_message() -> None:
    flow = wait_for_code("rnt_1", timeout=60, clock=Clock())
    assert next(flow).params == {"wait": 50.0}  # type: ignore[union-attr]
    with pytest.raises(StopIteration) as done:
        flow.send(A_CODE)
    code = done.value.value
    assert (code.value, code.score, code.kind, code.message_id) == ("482913", 0.9, "digits", 7)
    assert code.received_at.isoformat() == "2026-12-01T12:00:01+00:00"


def test_an_empty_answer_that_comes_at_once_is_asked_again_after_a_pause() -> None:
    clock = Clock()
    flow = wait_for_code("rnt_1", timeout=30, clock=clock)
    next(flow)
    clock.now += 0.01  # answered at once: a server stopping, a proxy
    assert step(flow, NO_CODE) == Pause(1.0)
    clock.now += 1.0
    again = step(flow, None)
    assert isinstance(again, Request)
    assert again.wait_s == pytest.approx(30 - 1.01)


def test_a_zero_timeout_reads_once() -> None:
    flow = wait_for_code("rnt_1", timeout=0, clock=Clock())
    assert next(flow).params == {}  # type: ignore[union-attr]
    with pytest.raises(CodeTimeout):
        flow.send(NO_CODE)


def test_rent_sends_only_what_was_given() -> None:
    flow = rent(country="US", service=None, carrier=None, number=None, duration_s=600)
    assert next(flow) == Request(
        "POST", "/api/v1/rentals", json={"country": "US", "duration_s": 600}
    )


def test_list_rentals_follows_next_before() -> None:
    flow = list_rentals(status="active", service=None)
    first = next(flow)
    assert isinstance(first, Request)
    assert first.params == {"status": "active", "limit": 200}
    second = step(flow, {"rentals": [], "next_before": "rnt_9"})
    assert isinstance(second, Request)
    assert second.params == {"status": "active", "before": "rnt_9", "limit": 200}
    with pytest.raises(StopIteration) as done:
        flow.send({"rentals": [], "next_before": None})
    assert done.value.value == []


def test_the_connection_takes_arguments_before_the_environment() -> None:
    environ = {"SMSLOCKER_URL": "http://env:8000/", "SMSLOCKER_API_KEY": "sk_env"}
    assert Connection.resolve(None, None, environ).base_url == "http://env:8000"
    given = Connection.resolve("http://given", "sk_given", environ)
    assert given.base_url == "http://given"
    assert given.headers["Authorization"] == "Bearer sk_given"
    with pytest.raises(ConfigurationError):
        Connection.resolve(None, "sk", {})
