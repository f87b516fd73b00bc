"""Importing numbers from CSV: validation, line numbers, idempotent upserts, batches."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from pool_support import T0
from sqlalchemy import select, update

from smslocker.pool.importer import (
    CsvFormatError,
    import_csv,
    import_rows,
    parse_tags,
    read_csv,
)
from smslocker.store.models import Number

GOOD_AND_BAD = """number,country,carrier,source,tags
+14155550100,,,sim_bank,otp;private
(415) 555-0101,US,,vmn_range,a|b; a
not a number,,,,
4155550102,,,,

+4915112345678,,MyCarrier,aggregator,
+14155550100,,,,
"""


def write(tmp_path: Path, text: str, name: str = "numbers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def rows(db: Any) -> dict[str, Any]:
    async with db.read() as connection:
        result = await connection.execute(select(Number).order_by(Number.id))
        return {row.e164: row for row in result}


def test_tags_split_on_semicolons_and_bars() -> None:
    assert parse_tags(" otp; private |otp|| x ") == ("otp", "private", "x")
    assert parse_tags("") == ()
    assert parse_tags(None) == ()


def test_a_file_without_a_number_column_is_refused() -> None:
    with pytest.raises(CsvFormatError, match="no 'number' column"):
        list(read_csv(io.StringIO("phone,country\n+14155550100,US\n")))
    with pytest.raises(CsvFormatError, match="empty"):
        list(read_csv(io.StringIO("")))


def test_columns_are_case_blind_and_a_bom_is_fine() -> None:
    ((line, row),) = read_csv(io.StringIO("\ufeffNumber , COUNTRY,extra\n+1415,US,x\n"))
    assert (line, row) == (2, {"number": "+1415", "country": "US"})


async def test_invalid_rows_are_reported_with_their_line_and_skipped(
    database: Any, tmp_path: Path
) -> None:
    report = await import_csv(database, write(tmp_path, GOOD_AND_BAD), connector="sim", now=T0)
    assert (report.imported, report.updated) == (3, 0)
    assert [(r.line, r.number) for r in report.rejected] == [
        (4, "not a number"),
        (5, "4155550102"),
        (8, "+14155550100"),
    ]
    assert "not a phone number" in report.rejected[0].reason
    assert "no country code" in report.rejected[1].reason
    assert report.rejected[2].reason == "duplicate of line 2"
    numbers = await rows(database)
    assert list(numbers) == ["+14155550100", "+14155550101", "+4915112345678"]
    first = numbers["+14155550100"]
    assert (first.country, first.line_type, first.source, first.tags) == (
        "US",
        "fixed_line_or_mobile",
        "sim_bank",
        ["otp", "private"],
    )
    assert (first.state, first.connector, first.created_at) == ("FREE", "sim", T0)
    assert numbers["+14155550101"].tags == ["a", "b"]
    german = numbers["+4915112345678"]
    assert (german.country, german.carrier, german.line_type) == ("DE", "MyCarrier", "mobile")


async def test_a_reimport_keeps_state_and_counters_and_updates_metadata(
    database: Any, tmp_path: Path
) -> None:
    path = write(tmp_path, GOOD_AND_BAD)
    await import_csv(database, path, connector="sim", now=T0)
    async with database.write() as connection:
        await connection.execute(
            update(Number)
            .where(Number.e164 == "+14155550100")
            .values(state="COOLDOWN", rentals_count=7, probes_ok=3)
        )
    before = await rows(database)
    report = await import_csv(database, path, connector="sim", now=T0)
    assert (report.imported, report.updated, len(report.rejected)) == (0, 3, 3)
    assert await rows(database) == before  # idempotent

    changed = write(tmp_path, "number,carrier,tags\n+14155550100,NewCo,vip\n", "changed.csv")
    report = await import_csv(database, changed, connector="other", now=T0)
    assert (report.imported, report.updated) == (0, 1)
    row = (await rows(database))["+14155550100"]
    assert (row.state, row.rentals_count, row.probes_ok) == ("COOLDOWN", 7, 3)
    assert (row.carrier, row.connector, row.tags) == ("NewCo", "other", ["vip"])


async def test_rows_go_in_batches_with_progress(database: Any) -> None:
    lines = [(i + 2, {"number": f"+1415555{i:04d}"}) for i in range(23)]
    seen: list[int] = []
    report = await import_rows(
        database, lines, connector=None, now=T0, batch_size=5, progress=seen.append
    )
    assert report.imported == 23
    assert seen == [5, 10, 15, 20, 23]
    assert len(await rows(database)) == 23


async def test_overlong_fields_are_rejected(database: Any) -> None:
    report = await import_rows(
        database,
        [
            (2, {"number": "+14155550100", "source": "s" * 21}),
            (3, {"number": "+14155550101", "carrier": "c" * 101}),
        ],
        connector=None,
        now=T0,
    )
    assert [r.reason for r in report.rejected] == [
        "source longer than 20 characters",
        "carrier longer than 100 characters",
    ]


async def test_validating_in_worker_processes_imports_the_same(
    sqlite_database: Any, tmp_path: Path
) -> None:
    lines = ["number,tags"] + [f"+1415555{i:04d},t{i % 3}" for i in range(40)]
    lines[7] = "garbage,"  # file line 8
    lines[12] = "+14155550010,"  # file line 13 repeats line 12, in the same batch
    path = write(tmp_path, "\n".join(lines) + "\n")
    seen: list[int] = []
    report = await import_csv(
        sqlite_database,
        path,
        connector="sim",
        now=T0,
        batch_size=8,
        workers=2,
        progress=seen.append,
    )
    assert [(r.line, r.reason.split(" ")[0]) for r in report.rejected] == [
        (8, "'garbage'"),
        (13, "duplicate"),
    ]
    assert (report.imported, report.updated) == (38, 0)
    assert seen == [8, 16, 24, 32, 40]
    assert len(await rows(sqlite_database)) == 38
