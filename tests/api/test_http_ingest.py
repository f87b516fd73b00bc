"""HTTP ingress: generic JSON and Twilio form posts take the same no-loss path as SMPP.

Each test posts through the app to the real ingest sink on both databases and reads the
inbox back through :mod:`smslocker.routing.inbox`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from api_support import BASE_URL, POLICY, MakeAccount, SeedNumbers, auth
from fastapi import FastAPI
from sqlalchemy import func, select

from smslocker.gateway.http_ingress import (
    BadInbound,
    body_signature,
    json_messages,
    parse_timestamp,
    twilio_signature,
    twilio_valid,
)
from smslocker.gateway.messages import InboundEvent
from smslocker.gateway.registry import create_connector
from smslocker.platform import Platform
from smslocker.rentals import RentRequest, rent
from smslocker.routing.inbox import rental_messages, unmatched_messages
from smslocker.store.models import Message

TOKEN = "twilio-auth-token"
JSON_SECRET = "generic-secret"


async def add_http(platform: Platform, name: str, **options: Any) -> None:
    await create_connector(
        platform.db, {"name": name, "bind": "http", "options": options}, platform.now()
    )


async def rented(platform: Platform, make_account: MakeAccount, seed_numbers: SeedNumbers) -> Any:
    account_id, _key = await make_account("alice")
    (number,) = await seed_numbers(1)
    rental = await rent(platform.db, account_id, RentRequest(number=number), platform.now(), POLICY)
    return rental


async def stored(platform: Platform) -> int:
    async with platform.db.read() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Message)) or 0)


def twilio_form(to: str, body: str = "Your code is 482913", sid: str = "SM0001") -> list[Any]:
    return [
        ("MessageSid", sid),
        ("AccountSid", "AC0001"),
        ("From", "+14155550100"),
        ("To", to),
        ("Body", body),
        ("NumSegments", "1"),
    ]


async def post_twilio(
    client: httpx.AsyncClient,
    connector: str,
    form: Sequence[tuple[str, str]],
    *,
    token: str | None = TOKEN,
    url: str | None = None,
) -> httpx.Response:
    path = f"/api/v1/ingest/{connector}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token is not None:
        headers["X-Twilio-Signature"] = twilio_signature(token, url or BASE_URL + path, form)
    return await client.post(path, content=urlencode(form), headers=headers)


# --------------------------------------------------------------------------- generic JSON


async def test_a_json_message_lands_in_the_rental_inbox(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    rental = await rented(platform, make_account, seed_numbers)
    await add_http(platform, "provider")
    response = await client.post(
        "/api/v1/ingest/provider",
        json={"from": "+447700900001", "to": rental.number, "text": "Code 123456", "id": "x1"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 1}
    (message,) = await rental_messages(
        platform.db, rental.account_id, rental.id, ring=platform.keyring
    )
    assert (message.source, message.destination, message.text) == (
        "447700900001",
        rental.number,
        "Code 123456",
    )
    assert message.connector == "provider"
    assert message.code == "123456"


async def test_a_list_with_aliases_and_timestamps_is_stored_in_one_post(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    rental = await rented(platform, make_account, seed_numbers)
    await add_http(platform, "provider")
    sent_at = platform.now() - timedelta(seconds=5)  # before the rental: not its message
    later = platform.now() + timedelta(seconds=0)
    body = [
        {"source": "Google", "destination": rental.number, "text": "G-111111", "timestamp": 1},
        {"from": "Acme", "to": rental.number, "text": "first", "timestamp": sent_at.isoformat()},
        {"from": "Acme", "to": rental.number, "text": "second", "timestamp": later.isoformat()},
    ]
    response = await client.post("/api/v1/ingest/provider", json=body)
    assert response.json() == {"accepted": 3}
    messages = await rental_messages(
        platform.db, rental.account_id, rental.id, ring=platform.keyring
    )
    # 1970 is no time to believe: routed by the time it arrived, like an SMSC's bad clock.
    assert [message.text for message in messages] == ["G-111111", "second"]
    assert messages[0].smsc_timestamp == datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert messages[1].smsc_timestamp == later
    assert [m.text for m in await unmatched_messages(platform.db, ring=platform.keyring)] == [
        "first"
    ]


async def test_a_redelivered_json_callback_is_stored_once(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    rental = await rented(platform, make_account, seed_numbers)
    await add_http(platform, "provider")
    body = {"from": "Acme", "to": rental.number, "text": "Code 1", "id": "msg-7"}
    for _ in range(3):
        response = await client.post("/api/v1/ingest/provider", json=body)
        assert response.status_code == 200
    assert await stored(platform) == 1


async def test_a_json_connector_with_a_secret_takes_a_bearer_or_a_body_signature(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await add_http(platform, "provider", http_secret=JSON_SECRET)
    path = "/api/v1/ingest/provider"
    raw = json.dumps({"from": "Acme", "to": "+14155550000", "text": "one"}).encode()
    headers = {"Content-Type": "application/json"}

    missing = await client.post(path, content=raw, headers=headers)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    wrong = await client.post(path, content=raw, headers={**headers, **auth("nope")})
    assert wrong.status_code == 403
    forged = {**headers, "X-Smslocker-Signature": body_signature("nope", raw)}
    assert (await client.post(path, content=raw, headers=forged)).status_code == 403
    assert await stored(platform) == 0

    by_bearer = await client.post(path, content=raw, headers={**headers, **auth(JSON_SECRET)})
    assert by_bearer.status_code == 200
    signed = {**headers, "X-Smslocker-Signature": body_signature(JSON_SECRET, raw)}
    other = json.dumps({"from": "Acme", "to": "+14155550000", "text": "two"}).encode()
    signed["X-Smslocker-Signature"] = body_signature(JSON_SECRET, other)
    assert (await client.post(path, content=other, headers=signed)).status_code == 200
    assert await stored(platform) == 2


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"{not json", 400, "not JSON"),
        (b'"text"', 422, "an object"),
        (b'{"from": "A", "to": "+14155550000"}', 422, "text"),
        (b'{"from": "A", "text": "x"}', 422, "to or destination"),
        (b'{"from": "A", "to": "call me", "text": "x"}', 422, "E.164"),
        (b'{"from": "", "to": "+14155550000", "text": "x"}', 422, "from"),
        (b'{"from": true, "to": "+14155550000", "text": "x"}', 422, "from"),
        (b'[{"from": "A", "to": "+14155550000", "text": "x"}, 5]', 422, "[1]"),
        (b'{"from": "A", "to": "+14155550000", "text": "x", "timestamp": "soon"}', 422, "time"),
        (b'{"from": "A", "to": "+14155550000", "text": "x\\u0000y"}', 422, "U+0000"),
        (b'{"from": "A", "to": "+14155550000", "text": "\\ud800"}', 422, "Unicode"),
        (b'{"from": "A\\u0000", "to": "+14155550000", "text": "x"}', 422, "from"),
    ],
)
async def test_bad_json_bodies_are_4xx_problems_and_store_nothing(
    client: httpx.AsyncClient, platform: Platform, body: bytes, status: int, says: str
) -> None:
    await add_http(platform, "provider")
    response = await client.post(
        "/api/v1/ingest/provider", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert says in response.json()["detail"]
    assert await stored(platform) == 0


async def test_too_many_messages_or_an_unknown_media_type_are_refused(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await add_http(platform, "provider")
    one = {"from": "A", "to": "+14155550000", "text": "x"}
    response = await client.post("/api/v1/ingest/provider", json=[one] * 1001)
    assert response.status_code == 422
    response = await client.post(
        "/api/v1/ingest/provider", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert await stored(platform) == 0


async def test_only_an_enabled_http_connector_takes_posts(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    one = {"from": "A", "to": "+14155550000", "text": "x"}
    assert (await client.post("/api/v1/ingest/nobody", json=one)).status_code == 404
    smpp = {"name": "carrier", "host": "127.0.0.1", "port": 2775, "system_id": "me"}
    await create_connector(platform.db, smpp, platform.now())
    assert (await client.post("/api/v1/ingest/carrier", json=one)).status_code == 404
    await create_connector(
        platform.db, {"name": "off", "bind": "http", "enabled": False}, platform.now()
    )
    response = await client.post("/api/v1/ingest/off", json=one)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "60"


class FailingSink:
    """Storage is down: nothing commits."""

    async def accept(self, batch: Sequence[InboundEvent]) -> None:
        raise ConnectionError("database went away")


async def test_a_failed_commit_answers_503_so_the_provider_retries(
    app: FastAPI, client: httpx.AsyncClient, platform: Platform
) -> None:
    await add_http(platform, "provider")
    app.state.ingest_sink = FailingSink()
    one = {"from": "A", "to": "+14155550000", "text": "x"}
    response = await client.post("/api/v1/ingest/provider", json=one)
    assert response.status_code == 503
    assert response.json()["type"].endswith("/ingest-unavailable")


# --------------------------------------------------------------------------- Twilio


async def test_a_signed_twilio_post_is_stored_and_answered_with_empty_twiml(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    rental = await rented(platform, make_account, seed_numbers)
    await add_http(platform, "twilio", http_secret=TOKEN)
    form = [*twilio_form(rental.number), ("NumSegments", "2")]
    form = [pair for pair in form if pair != ("NumSegments", "1")]
    response = await post_twilio(client, "twilio", form)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert response.text == "<Response/>"
    (message,) = await rental_messages(
        platform.db, rental.account_id, rental.id, ring=platform.keyring
    )
    assert (message.source, message.text, message.parts) == (
        "14155550100",
        "Your code is 482913",
        2,
    )


async def test_a_redelivered_twilio_callback_is_stored_once(
    client: httpx.AsyncClient,
    platform: Platform,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    rental = await rented(platform, make_account, seed_numbers)
    await add_http(platform, "twilio", http_secret=TOKEN)
    for _ in range(2):
        response = await post_twilio(client, "twilio", twilio_form(rental.number, sid="SM42"))
        assert response.status_code == 200
    assert await stored(platform) == 1


async def test_twilio_posts_without_the_right_signature_are_refused(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await add_http(platform, "twilio", http_secret=TOKEN)
    form = twilio_form("+14155550000")
    assert (await post_twilio(client, "twilio", form, token=None)).status_code == 401
    assert (await post_twilio(client, "twilio", form, token="wrong")).status_code == 403
    other_url = "https://elsewhere.example/api/v1/ingest/twilio"
    assert (await post_twilio(client, "twilio", form, url=other_url)).status_code == 403
    assert await stored(platform) == 0


async def test_the_signature_covers_the_public_url_when_one_is_configured(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    public = "https://sms.example.com/api/v1/ingest/twilio?tenant=7"
    await add_http(platform, "twilio", http_secret=TOKEN, public_url=public)
    form = twilio_form("+14155550000")
    assert (await post_twilio(client, "twilio", form, url=public)).status_code == 200
    assert (await post_twilio(client, "twilio", form)).status_code == 403


async def test_an_open_twilio_connector_needs_no_signature_but_a_whole_form(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await add_http(platform, "twilio")
    form = twilio_form("+14155550000")
    assert (await post_twilio(client, "twilio", form, token=None)).status_code == 200
    without_body = [pair for pair in form if pair[0] != "Body"]
    response = await post_twilio(client, "twilio", without_body, token=None)
    assert response.status_code == 422
    assert "Body" in response.json()["detail"]
    bad_segments = [*without_body, ("Body", "x")]
    bad_segments = [p if p[0] != "NumSegments" else ("NumSegments", "lots") for p in bad_segments]
    assert (await post_twilio(client, "twilio", bad_segments, token=None)).status_code == 422
    response = await client.post(
        "/api/v1/ingest/twilio",
        content=b"From=%FF%FE",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (400, 422)
    assert await stored(platform) == 1


# --------------------------------------------------------------------------- pure parts


def test_twilio_signature_matches_twilios_documented_examples() -> None:
    # The test vectors of Twilio's own signature-validation snippets
    # (github.com/TwilioDevEd/api-snippets, security/signature_validation/
    # signature_validation.5.x.php and signature_validation.2.x.js), as described in
    # https://www.twilio.com/docs/usage/webhooks/webhooks-security: auth token 12345,
    # URL https://mycompany.com/myapp.php?foo=1&bar=2.
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"

    def params(caller: str) -> list[tuple[str, str]]:
        return [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", caller),
            ("Digits", "1234"),
            ("From", caller),
            ("To", "+18005551212"),
        ]

    assert twilio_signature("12345", url, params("+14158675310")) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert twilio_signature("12345", url, params("+14158675309")) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    shuffled = list(reversed(params("+14158675310")))
    assert twilio_valid("12345", url, shuffled, "GvWf1cFY/Q7PnoempGyD5oXAezc=")
    assert not twilio_valid("12345", url, shuffled, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not twilio_valid("12345", url, shuffled, None)


def test_twilio_signatures_are_checked_with_and_without_the_default_port() -> None:
    form = [("Body", "hi")]
    signed_with_port = twilio_signature("t", "https://example.com:443/hook?a=1", form)
    assert twilio_valid("t", "https://example.com/hook?a=1", form, signed_with_port)
    signed_without = twilio_signature("t", "https://example.com/hook", form)
    assert twilio_valid("t", "https://example.com:443/hook", form, signed_without)
    other_port = twilio_signature("t", "https://example.com:8443/hook", form)
    assert not twilio_valid("t", "https://example.com/hook", form, other_port)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("2026-12-01T12:00:00Z", datetime(2026, 12, 1, 12, tzinfo=UTC)),
        ("2026-12-01T13:00:00+01:00", datetime(2026, 12, 1, 12, tzinfo=UTC)),
        ("2026-12-01T12:00:00", datetime(2026, 12, 1, 12, tzinfo=UTC)),
    ],
)
def test_timestamps_read_as_utc(value: Any, expected: datetime | None) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", ["tomorrow", True, 1e20, [1]])
def test_bad_timestamps_are_refused(value: Any) -> None:
    with pytest.raises(BadInbound, match="timestamp"):
        parse_timestamp(value)


def test_a_sender_keeps_its_name_and_a_number_loses_its_punctuation() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    body = [
        {"from": "+44 7700-900001", "to": "+1 (415) 555-0000", "text": "a"},
        {"from": "WhatsApp", "to": "14155550000", "text": "b"},
    ]
    first, second = json_messages("p", body, now)
    assert (first.source, first.destination) == ("447700900001", "14155550000")
    assert (second.source, second.destination) == ("WhatsApp", "14155550000")
    assert (first.received_at, first.encoding) == (now, "utf-8")
