"""Admin: the pool of numbers — list, show (with its rentals), import CSV, quarantine,
retire, free. Included in :mod:`.admin`'s router, which makes every route admin-only."""

from __future__ import annotations

import os
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from io import StringIO
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from smslocker.pool.importer import Rejected, import_rows, read_csv
from smslocker.pool.lifecycle import NumberState
from smslocker.pool.numbers import NumberView, get_number, list_numbers, service_tags_of
from smslocker.pool.operator import free_number, quarantine_number, retire_number
from smslocker.rentals.accounts import rentals_of_number
from smslocker.rentals.views import RentalView
from smslocker.store.types import MAX_ID

from ..deps import PlatformDep
from ..problems import Problem
from ..views import iso, problems, rental_json

router = APIRouter()

#: The largest CSV upload (some two million rows).
MAX_UPLOAD = 64 * 1024 * 1024
#: From this many rows the import validates in worker processes (as the CLI does).
WORKERS_MIN_ROWS = 20_000
CONNECTOR = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

E164 = Annotated[str, Path(pattern=r"^\+?[0-9]{6,15}$", description="E.164, '+' optional")]


def number_json(number: NumberView) -> dict[str, Any]:
    return {
        "id": number.id,
        "number": number.e164,
        "country": number.country,
        "carrier": number.carrier,
        "line_type": number.line_type,
        "source": number.source,
        "connector": number.connector,
        "tags": list(number.tags),
        "state": number.state,
        "state_since": iso(number.state_since),
        "state_until": iso(number.state_until),
        "last_used_at": iso(number.last_used_at),
        "busy_until": iso(number.busy_until),
        "rentals_count": number.rentals_count,
        "messages_count": number.messages_count,
        "health": {
            "probes_ok": number.probes_ok,
            "probes_failed": number.probes_failed,
            "probe_failure_streak": number.probe_failure_streak,
            "last_probe_at": iso(number.last_probe_at),
            "last_probe_ms": number.last_probe_ms,
        },
        "created_at": iso(number.created_at),
    }


def _history_json(rental: RentalView) -> dict[str, Any]:
    return {**rental_json(rental), "account_id": rental.account_id}


def _e164(value: str) -> str:
    return value if value.startswith("+") else "+" + value


@router.get("/numbers", summary="Numbers of the pool, by id (page with `after`)")
async def get_numbers(
    platform: PlatformDep,
    state: Annotated[NumberState | None, Query()] = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
    connector: Annotated[str | None, Query(pattern=CONNECTOR)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="the last id seen")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    numbers = await list_numbers(
        platform.db,
        state=state.value if state else None,
        country=country,
        connector=connector,
        after_id=after,
        limit=limit,
    )
    return {
        "numbers": [number_json(number) for number in numbers],
        "next_after": numbers[-1].id if len(numbers) == limit else None,
    }


@router.get(
    "/numbers/{e164}",
    summary="One number, with its service tags and its rentals (newest first)",
    responses=problems(404),
)
async def get_one_number(
    platform: PlatformDep,
    e164: E164,
    rentals: Annotated[int, Query(ge=0, le=1000, description="how many rentals")] = 50,
) -> dict[str, Any]:
    number = await get_number(platform.db, _e164(e164))
    if number is None:
        raise Problem(404, "number-not-found", f"{_e164(e164)} is not in the pool")
    tags = await service_tags_of(platform.db, number.id)
    history = await rentals_of_number(platform.db, number.id, limit=rentals) if rentals else []
    return {
        **number_json(number),
        "service_tags": [
            {
                "service": tag.service,
                "last_used_at": iso(tag.last_used_at),
                "uses": tag.uses,
                "failures": tag.failures,
                "failing": tag.failing,
                "failed_at": iso(tag.failed_at),
            }
            for tag in tags
        ],
        "rentals": [_history_json(rental) for rental in history],
    }


# The schema names text/csv only; a multipart upload (the description says how) is read
# too. Listing multipart/form-data here makes schema-driven clients send streamed
# multipart bodies, which the schemathesis harness (tests/api/test_schemathesis.py)
# cannot replay yet.
_IMPORT_BODY: dict[str, Any] = {
    "required": True,
    "content": {"text/csv": {"schema": {"type": "string"}}},
}


@router.post(
    "/numbers/import",
    summary="Import numbers from CSV: number[,country,carrier,source,tags]",
    description=(
        "The CSV is the body (`text/csv`) or the `file` field of a `multipart/form-data` "
        "upload. Valid rows are imported (a number already in the pool gets the row's "
        "details and keeps its state); each rejected row is listed with its line and why."
    ),
    openapi_extra={"requestBody": _IMPORT_BODY},
    responses=problems(400, 413, 415, 422),
)
async def import_numbers(
    request: Request,
    platform: PlatformDep,
    connector: Annotated[
        str | None, Query(pattern=CONNECTOR, description="the connector they terminate on")
    ] = None,
) -> dict[str, Any]:
    text = _csv_text(await _upload(request), request.headers.get("content-type", ""))
    rows = text.count("\n")
    report = await import_rows(
        platform.db,
        read_csv(StringIO(text, newline=None)),
        connector=connector,
        now=platform.now(),
        workers=(os.cpu_count() or 1) if rows >= WORKERS_MIN_ROWS else 0,
    )
    return {
        "rows": report.rows,
        "imported": report.imported,
        "updated": report.updated,
        "rejected": [_rejected_json(item) for item in report.rejected],
    }


def _rejected_json(item: Rejected) -> dict[str, Any]:
    return {"line": item.line, "number": item.number, "reason": item.reason}


async def _upload(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_UPLOAD:
        raise Problem(413, "payload-too-large", f"at most {MAX_UPLOAD} bytes")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_UPLOAD:
            raise Problem(413, "payload-too-large", f"at most {MAX_UPLOAD} bytes")
    return bytes(chunks)


def _csv_text(body: bytes, content_type: str) -> str:
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        body = _multipart_file(body, content_type)
    elif media_type not in ("text/csv", "text/plain", "application/csv", ""):
        raise Problem(415, "unsupported-media-type", "send text/csv or multipart/form-data")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Problem(422, "invalid-csv", f"the file is not UTF-8 (byte {error.start})") from None
    if "\x00" in text:  # no CSV has one, and PostgreSQL refuses it in text
        raise Problem(422, "invalid-csv", "the file contains NUL characters")
    return text


def _multipart_file(body: bytes, content_type: str) -> bytes:
    """The ``file`` field of a multipart/form-data body (or its only file).

    Parsed with the standard library's MIME parser: the form has one field, and this
    keeps a dependency (python-multipart) out for it.
    """
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise Problem(400, "bad-request", "a multipart body with a `file` field is expected")
    files = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "file":
            return _payload(part)
        if part.get_filename():
            files.append(part)
    if len(files) == 1:
        return _payload(files[0])
    raise Problem(400, "bad-request", "the multipart body has no `file` field")


def _payload(part: Any) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


class QuarantineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    duration_s: int | None = Field(
        None, ge=1, le=10 * 365 * 86_400, description="default: the policy's quarantine length"
    )
    indefinite: bool = Field(False, description="until an operator frees it")


@router.post(
    "/numbers/{e164}/quarantine",
    summary="Quarantine a number (the sweeper frees it after the duration)",
    responses=problems(404, 409),
)
async def quarantine(
    platform: PlatformDep, e164: E164, body: Annotated[QuarantineIn | None, Body()] = None
) -> dict[str, Any]:
    body = body or QuarantineIn()
    now = platform.now()
    seconds = body.duration_s or platform.settings.policy.quarantine_s
    until = None if body.indefinite else now + timedelta(seconds=seconds)
    return number_json(await quarantine_number(platform.db, _e164(e164), now, until=until))


@router.post(
    "/numbers/{e164}/retire", summary="Retire a number for good", responses=problems(404, 409)
)
async def retire(platform: PlatformDep, e164: E164) -> dict[str, Any]:
    return number_json(await retire_number(platform.db, _e164(e164), platform.now()))


@router.post(
    "/numbers/{e164}/free",
    summary="End a quarantine or a cooldown now",
    responses=problems(404, 409),
)
async def free(platform: PlatformDep, e164: E164) -> dict[str, Any]:
    return number_json(await free_number(platform.db, _e164(e164), platform.now()))
