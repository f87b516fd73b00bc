"""Message bodies and codes encrypted at rest: never in the database in clear."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import MakeAccount, SeedNumbers, auth, deliver_sms
from sqlalchemy import select, update

from smslocker.delivery.worker import WebhookWorker
from smslocker.log import get_logger
from smslocker.platform import Platform
from smslocker.privacy.bodies import open_body, seal_body
from smslocker.privacy.keyring import KeyRing, SealError, rotate_key_file
from smslocker.privacy.reencrypt import reencrypt
from smslocker.routing.inbox import SealedBodyError, rental_messages
from smslocker.routing.ingest import StoreSink
from smslocker.store.models import Message, Rental

TEXT = "Your Zorblax verification code is 834211. Do not share it."
CODE = "834211"


async def _rent_and_receive(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> tuple[str, str]:
    _, key = await make_account()
    await seed_numbers(1)
    rental = (await client.post("/api/v1/rentals", json={}, headers=auth(key))).json()
    await deliver_sms(platform, sink, rental["number"], TEXT)
    return key, rental["id"]


async def test_the_body_and_code_are_sealed_in_the_database_and_open_for_the_renter(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    tmp_path: Path,
) -> None:
    key, rental_id = await _rent_and_receive(client, platform, sink, make_account, seed_numbers)
    async with platform.db.read() as connection:
        row = (await connection.execute(select(Message))).one()
    assert (row.text, row.binary, row.codes) == (None, None, None)
    assert row.sealed is not None
    assert CODE.encode() not in row.sealed
    assert b"Zorblax" not in row.sealed
    if platform.db.is_sqlite:
        # Nothing in the file itself either (WAL included): not a leftover page, not an index.
        raw = await asyncio.to_thread(_read_all, tmp_path, "test.db*")
        assert raw  # the database is there...
        assert b"Zorblax" not in raw  # ...without the text
        assert CODE.encode() not in raw

    page = (await client.get(f"/api/v1/rentals/{rental_id}/messages", headers=auth(key))).json()
    assert [m["text"] for m in page["messages"]] == [TEXT]
    code = (await client.get(f"/api/v1/rentals/{rental_id}/code", headers=auth(key))).json()
    assert code["code"] == CODE


async def test_a_body_does_not_open_with_another_key_ring(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
) -> None:
    _key, rental_id = await _rent_and_receive(client, platform, sink, make_account, seed_numbers)
    rental = await get_rental_row(platform, rental_id)
    # The key file was lost or swapped: an error, never garbage or an empty message.
    with pytest.raises(SealError):
        await rental_messages(platform.db, rental.account_id, rental_id, ring=KeyRing.generate())
    with pytest.raises(SealedBodyError):
        await rental_messages(platform.db, rental.account_id, rental_id, ring=None)


def _read_all(folder: Path, pattern: str) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.glob(pattern)))


async def get_rental_row(platform: Platform, rental_id: str) -> Any:
    async with platform.db.read() as connection:
        return (await connection.execute(select(Rental).where(Rental.id == rental_id))).one()


async def test_reencrypt_moves_bodies_to_the_new_key_and_seals_clear_ones(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    tmp_path: Path,
) -> None:
    key, rental_id = await _rent_and_receive(client, platform, sink, make_account, seed_numbers)
    # A second message stored while encryption was off: in clear.
    async with platform.db.read() as connection:
        [(first, first_sealed)] = (
            await connection.execute(select(Message.id, Message.sealed))
        ).all()
    assert platform.keyring is not None
    original = open_body(platform.keyring, first_sealed)
    clear_sink = StoreSink(platform.db, sink.settings, clock=platform.clock, bus=platform.bus)
    try:
        rental = (await client.get(f"/api/v1/rentals/{rental_id}", headers=auth(key))).json()
        await deliver_sms(platform, clear_sink, rental["number"], "Second code 111222")
    finally:
        await clear_sink.close()

    path = tmp_path / "keys.json"
    old = KeyRing.load_or_create(path)
    platform.keyring = old
    async with platform.db.write() as connection:  # the first body, sealed with the file's key
        await connection.execute(
            update(Message)
            .where(Message.id == first)
            .values(sealed=seal_body(old, original.text, original.binary, original.codes))
        )
    new_id = rotate_key_file(path)
    ring = KeyRing.load(path)
    counts = await reencrypt(platform.db, ring, chunk=1)
    assert (counts.resealed, counts.sealed) == (1, 1)
    async with platform.db.read() as connection:
        rows = (await connection.execute(select(Message).order_by(Message.id))).all()
    assert all(row.text is None and row.sealed is not None for row in rows)
    assert {KeyRing.key_id_of(row.sealed) for row in rows if row.sealed} == {new_id}
    again = await reencrypt(platform.db, ring)
    assert (again.resealed, again.sealed) == (0, 0)

    platform.keyring = ring
    page = (await client.get(f"/api/v1/rentals/{rental_id}/messages", headers=auth(key))).json()
    assert [m["text"] for m in page["messages"]] == [TEXT, "Second code 111222"]


async def test_logs_never_contain_message_text_codes_keys_or_secrets(
    client: httpx.AsyncClient,
    platform: Platform,
    sink: StoreSink,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    get_logger("tests.scan").warning("scan.marker")  # proves the capture sees our logs
    _, key = await make_account()
    await seed_numbers(1)
    hook = await client.post(
        "/api/v1/webhooks",
        json={"url": "https://hooks.example/in", "events": ["message.received"]},
        headers=auth(key),
    )
    secret = hook.json()["secret"]
    rental = (await client.post("/api/v1/rentals", json={}, headers=auth(key))).json()
    await deliver_sms(platform, sink, rental["number"], TEXT)
    await client.get(f"/api/v1/rentals/{rental['id']}/messages", headers=auth(key))
    await client.get(f"/api/v1/rentals/{rental['id']}/code", headers=auth(key))
    delivered: list[bytes] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        delivered.append(request.content)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        worker = WebhookWorker(platform.db, platform.clock, client=http)
        assert await worker.run_once() == 1
    assert CODE.encode() in delivered[0]  # the webhook carried the code...
    await client.post(f"/api/v1/rentals/{rental['id']}/release", headers=auth(key))
    captured = capsys.readouterr()
    logs = captured.err + captured.out + caplog.text
    assert "scan.marker" in logs
    assert "webhook.attempt" in logs  # ...and its delivery was logged, without it
    for leaked in ("Zorblax", CODE, key, secret, secret.removeprefix("whsec_")):
        assert leaked not in logs
