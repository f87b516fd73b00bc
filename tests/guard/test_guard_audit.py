"""The audit trail: what is recorded, the hash chain (tampering found), concurrent
writers, the admin endpoints, the CLI, and that only admins see it."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from api_support import T0, MakeAccount, SeedNumbers, auth, deliver_sms, make_sink
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from smslocker.cli import app as cli_app
from smslocker.guard import audit
from smslocker.platform import Platform
from smslocker.settings import get_settings
from smslocker.store import Database, upgrade
from smslocker.store.models import AuditEntry


async def actions(platform: Platform) -> list[str]:
    return [entry.action for entry in await audit.entries(platform.db, limit=1000)]


async def test_the_chain_links_every_entry(database: Database) -> None:
    first = await audit.record(database, "test.one", at=T0, actor="cli", details={"n": 1})
    second = await audit.record(database, "test.two", at=T0, actor="cli", target="x")
    assert (first.id, second.id) == (1, 2)
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash
    assert second.hash == audit.chain_hash(first.hash, second.canonical())
    verdict = await audit.verify(database)
    assert (verdict.ok, verdict.checked, verdict.last_hash) == (True, 2, second.hash)


async def test_an_empty_trail_verifies(database: Database) -> None:
    assert await audit.verify(database) == audit.Verdict(True, 0)


async def _three(database: Database) -> None:
    for index in range(3):
        await audit.record(database, "test", at=T0, actor="cli", details={"index": index})


async def test_a_changed_entry_is_found(database: Database) -> None:
    await _three(database)
    async with database.write() as connection:
        await connection.execute(
            update(AuditEntry).where(AuditEntry.id == 2).values(details={"index": 99})
        )
    verdict = await audit.verify(database)
    assert (verdict.ok, verdict.broken_id, verdict.checked) == (False, 2, 1)
    assert "changed" in (verdict.problem or "")


async def test_a_rehashed_entry_breaks_the_next_link(database: Database) -> None:
    """Whoever edits an entry and recomputes its hash still breaks the entry after it."""
    await _three(database)
    async with database.read() as connection:
        row = (await connection.execute(select(AuditEntry).where(AuditEntry.id == 2))).one()
    forged = audit.Entry(
        row.id,
        row.at,
        "someone-else",
        row.account_id,
        row.action,
        row.target,
        row.details,
        row.prev_hash,
    )
    async with database.write() as connection:
        await connection.execute(
            update(AuditEntry)
            .where(AuditEntry.id == 2)
            .values(actor=forged.actor, hash=forged.expected_hash())
        )
    verdict = await audit.verify(database)
    assert (verdict.ok, verdict.broken_id) == (False, 3)
    assert "prev_hash" in (verdict.problem or "")


async def test_a_deleted_entry_is_found(database: Database) -> None:
    await _three(database)
    async with database.write() as connection:
        await connection.execute(delete(AuditEntry).where(AuditEntry.id == 2))
    verdict = await audit.verify(database)
    assert (verdict.ok, verdict.broken_id) == (False, 3)
    assert "missing" in (verdict.problem or "")


async def test_concurrent_writers_keep_one_line(database: Database) -> None:
    async def write(index: int) -> None:
        await audit.record(database, "race", at=T0, actor=f"writer:{index}")

    await asyncio.gather(*(write(index) for index in range(30)))
    entries = await audit.entries(database, limit=100)
    assert [entry.id for entry in entries] == list(range(1, 31))
    assert sorted(entry.actor for entry in entries) == sorted(f"writer:{i}" for i in range(30))
    assert (await audit.verify(database)).ok


async def test_api_actions_are_audited(
    platform: Platform,
    client: httpx.AsyncClient,
    make_account: MakeAccount,
    seed_numbers: SeedNumbers,
    admin_key: str,
) -> None:
    [number] = await seed_numbers(1)
    account_id, key = await make_account("alice")
    created = await client.post(
        f"/api/v1/admin/accounts/{account_id}/keys", json={}, headers=auth(admin_key)
    )
    assert created.status_code == 201
    new_key_id = created.json()["id"]
    rental = (await client.post("/api/v1/rentals", json={}, headers=auth(key))).json()
    sink = make_sink(platform)
    try:
        await deliver_sms(platform, sink, number, "Your code is 123456")
    finally:
        await sink.close()
    page = await client.get(f"/api/v1/rentals/{rental['id']}/messages", headers=auth(key))
    assert len(page.json()["messages"]) == 1
    empty = await client.get(
        f"/api/v1/rentals/{rental['id']}/messages?after={page.json()['next_after']}",
        headers=auth(key),
    )
    assert empty.json()["messages"] == []
    await client.post(f"/api/v1/rentals/{rental['id']}/release", headers=auth(key))
    await client.patch(
        f"/api/v1/admin/accounts/{account_id}", json={"tier": "trusted"}, headers=auth(admin_key)
    )
    revoked = await client.delete(f"/api/v1/admin/keys/{new_key_id}", headers=auth(admin_key))
    assert revoked.status_code == 204

    found = await audit.entries(platform.db, limit=1000)
    by_action: dict[str, list[audit.Entry]] = {}
    for entry in found:
        by_action.setdefault(entry.action, []).append(entry)
    admin_key_id = admin_key.split("_")[1]
    # The key made through the API names the admin's key as actor, in its transaction.
    [key_created] = [e for e in by_action[audit.KEY_CREATED] if e.target == f"key:{new_key_id}"]
    assert key_created.actor == f"key:{admin_key_id}"
    assert key_created.account_id == account_id
    assert [e.target for e in by_action[audit.KEY_REVOKED]] == [f"key:{new_key_id}"]
    [started] = by_action[audit.RENTAL_STARTED]
    assert (started.target, started.account_id) == (rental["id"], account_id)
    assert started.details["number"] == number
    [ended] = by_action[audit.RENTAL_ENDED]
    assert ended.details["status"] == "completed"
    [read] = by_action[audit.MESSAGE_READ]  # the empty page is not a read
    assert read.actor == f"key:{key.split('_')[1]}"
    assert read.target == rental["id"]
    [tier] = by_action[audit.ACCOUNT_TIER_CHANGED]
    assert tier.details == {"to": "trusted"}
    admin_requests = by_action[audit.ADMIN_REQUEST]
    routes = {(e.details["method"], e.details["route"]) for e in admin_requests}
    assert ("PATCH", "/api/v1/admin/accounts/{account_id}") in routes
    assert ("DELETE", "/api/v1/admin/keys/{key_id}") in routes
    assert all(e.actor == f"key:{admin_key_id}" for e in admin_requests)
    # Reads are not admin changes.
    assert not any(e.details["method"] == "GET" for e in admin_requests)
    assert (await audit.verify(platform.db)).ok


async def test_admin_audit_endpoint_filters_and_pages(
    platform: Platform, client: httpx.AsyncClient, admin_key: str
) -> None:
    for index in range(5):
        await audit.record(
            platform.db,
            "test.a" if index % 2 == 0 else "test.b",
            at=T0 + timedelta(minutes=index),
            actor=f"cli:{index % 2}",
        )
    headers = auth(admin_key)
    response = await client.get("/api/v1/admin/audit?action=test.a", headers=headers)
    assert response.status_code == 200
    assert [e["details"] for e in response.json()["entries"]] == [{}, {}, {}]
    response = await client.get("/api/v1/admin/audit?actor=cli:1", headers=headers)
    assert [e["action"] for e in response.json()["entries"]] == ["test.b", "test.b"]
    since = (T0 + timedelta(minutes=1)).isoformat()
    until = (T0 + timedelta(minutes=3)).isoformat()
    response = await client.get(
        "/api/v1/admin/audit", params={"since": since, "until": until}, headers=headers
    )
    got = response.json()["entries"]
    assert [e["at"] for e in got] == [
        (T0 + timedelta(minutes=m)).isoformat(timespec="microseconds") for m in (1, 2)
    ]
    first = (await client.get("/api/v1/admin/audit?action=test.a&limit=2", headers=headers)).json()
    assert first["next_after"] is not None
    rest = await client.get(
        f"/api/v1/admin/audit?action=test.a&after={first['next_after']}", headers=headers
    )
    assert len(first["entries"]) + len(rest.json()["entries"]) == 3
    naive = await client.get("/api/v1/admin/audit?since=2026-12-01T12:00:00", headers=headers)
    assert naive.status_code == 422

    export = await client.get("/api/v1/admin/audit/export", headers=headers)
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    # Entry 1 is the admin key's creation (the fixture), then the five above.
    assert [line["id"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert lines[0]["action"] == audit.KEY_CREATED
    assert lines[-1]["hash"] == (await audit.verify(platform.db)).last_hash
    verify = await client.get("/api/v1/admin/audit/verify", headers=headers)
    assert verify.json()["ok"] is True
    assert verify.json()["checked"] == 6


async def test_only_admins_see_the_trail(
    client: httpx.AsyncClient, make_account: MakeAccount
) -> None:
    _account, key = await make_account("mallory")
    for path in (
        "/api/v1/admin/audit",
        "/api/v1/admin/audit/export",
        "/api/v1/admin/audit/verify",
        "/api/v1/admin/alerts",
    ):
        assert (await client.get(path, headers=auth(key))).status_code == 403
        assert (await client.get(path)).status_code == 401


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith("SMSLOCKER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SMSLOCKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMSLOCKER_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def test_cli_verify_and_export(data_dir: Path, tmp_path: Path) -> None:
    async def prepare(tamper: bool) -> None:
        database = Database(f"sqlite+aiosqlite:///{data_dir / 'smslocker.db'}")
        try:
            await upgrade(database)
            if tamper:
                async with database.write() as connection:
                    await connection.execute(
                        update(AuditEntry).where(AuditEntry.id == 2).values(target="forged")
                    )
            else:
                await _three(database)
        finally:
            await database.close()

    asyncio.run(prepare(tamper=False))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 3 entries")

    out = tmp_path / "audit.jsonl"
    result = runner.invoke(cli_app, ["audit", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == [1, 2, 3]
    result = runner.invoke(cli_app, ["audit", "export", "--since", "yesterday"])
    assert result.exit_code == 2

    asyncio.run(prepare(tamper=True))
    result = runner.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "broken at entry 2" in result.output
