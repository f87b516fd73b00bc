"""Importing numbers from CSV (``smslocker numbers import FILE.csv --connector NAME``).

Columns: ``number`` (required), and optional ``country``, ``carrier``, ``source``,
``tags`` (separated by ``;`` or ``|``); other columns are ignored. Each number is
normalised to E.164 (:func:`~.phone.normalise`); a row that fails is reported with its
line number and reason and skipped, the others are imported.

Rows go to the database in batches, one transaction each, as an upsert on ``e164``: a
number already in the pool keeps its state and counters and gets the row's metadata, so
importing the same file twice changes nothing the second time. A number repeated inside
one batch is rejected as a duplicate of its first line; repeated across batches the
later row simply updates the earlier one (keeping a set of every number of a
million-row file in memory is not worth that distinction). Validation is most of an
import's work; for big files it runs in worker processes while batches are stored.
"""

from __future__ import annotations

import asyncio
import csv
import multiprocessing
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Connection, func, select

from smslocker.store.db import Database
from smslocker.store.models import EPOCH, Number
from smslocker.store.sql import upsert

from .lifecycle import NumberState
from .phone import InvalidNumber, normalise

DEFAULT_BATCH_SIZE = 5000
COLUMNS = ("number", "country", "carrier", "source", "tags")
_TAG_SEPARATORS = re.compile(r"[;|]")
_MAX_SOURCE, _MAX_CARRIER, _MAX_CONNECTOR = 20, 100, 100

#: Called with the number of rows handled so far (for a progress bar).
Progress = Callable[[int], None]


class CsvFormatError(ValueError):
    """The file is not a numbers CSV at all (no ``number`` column); nothing was imported."""


@dataclass(frozen=True, slots=True)
class Rejected:
    """A row that was skipped: its line in the file, what it said, and why."""

    line: int
    number: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    """What an import did. ``imported`` are new numbers, ``updated`` were already there."""

    imported: int = 0
    updated: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.imported + self.updated + len(self.rejected)


@dataclass(frozen=True, slots=True)
class NumberRow:
    """One valid row, ready to store."""

    line: int
    e164: str
    country: str
    carrier: str | None
    line_type: str
    source: str | None
    tags: tuple[str, ...]


def parse_tags(text: str | None) -> tuple[str, ...]:
    """``"sim; otp|sim"`` -> ``("sim", "otp")``: split, trimmed, empty and repeats dropped."""
    if not text:
        return ()
    tags = (tag.strip() for tag in _TAG_SEPARATORS.split(text))
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def parse_row(line: int, row: Mapping[str, str | None]) -> NumberRow:
    """A CSV row as a :class:`NumberRow`; raises :class:`InvalidNumber` with the reason."""
    source = (row.get("source") or "").strip() or None
    carrier = (row.get("carrier") or "").strip() or None
    if source is not None and len(source) > _MAX_SOURCE:
        raise InvalidNumber(f"source longer than {_MAX_SOURCE} characters")
    if carrier is not None and len(carrier) > _MAX_CARRIER:
        raise InvalidNumber(f"carrier longer than {_MAX_CARRIER} characters")
    facts = normalise(row.get("number") or "", country=row.get("country"), carrier_name=carrier)
    return NumberRow(
        line=line,
        e164=facts.e164,
        country=facts.country,
        carrier=facts.carrier,
        line_type=facts.line_type,
        source=source,
        tags=parse_tags(row.get("tags")),
    )


def read_csv(stream: TextIO) -> Iterator[tuple[int, dict[str, str | None]]]:
    """(line number, row) for each data row of ``stream``; column names are case-blind.

    Raises :class:`CsvFormatError` before the first row if there is no ``number`` column.
    """
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        raise CsvFormatError("the file is empty")
    names = [name.strip().lower().lstrip("\ufeff") for name in header]
    if "number" not in names:
        raise CsvFormatError(f"no 'number' column in the header {header!r}")
    positions = {name: names.index(name) for name in COLUMNS if name in names}
    for values in reader:
        if not any(value.strip() for value in values):
            continue  # blank line
        row = {
            name: values[index] if index < len(values) else None
            for name, index in positions.items()
        }
        yield reader.line_num, row


def count_data_lines(path: Path) -> int:
    """Lines after the header (a cheap total for the progress bar; may count blank lines)."""
    with path.open("rb") as stream:
        return max(0, sum(1 for _ in stream) - 1)


@dataclass(frozen=True, slots=True)
class ParsedChunk:
    """One chunk of input rows after validation: what to store, what was rejected."""

    rows: list[NumberRow]
    rejected: list[Rejected]
    handled: int


Chunk = list[tuple[int, Mapping[str, str | None]]]


def parse_chunk(chunk: Chunk) -> ParsedChunk:
    """Validate a chunk of (line, row); a number repeated within it is a duplicate.

    Module-level and pure, so that worker processes can run it.
    """
    valid: dict[str, NumberRow] = {}
    rejected = []
    for line, row in chunk:
        try:
            parsed = parse_row(line, row)
        except InvalidNumber as error:
            rejected.append(Rejected(line, (row.get("number") or "").strip(), str(error)))
            continue
        first = valid.get(parsed.e164)
        if first is not None:
            rejected.append(Rejected(line, parsed.e164, f"duplicate of line {first.line}"))
            continue
        valid[parsed.e164] = parsed
    return ParsedChunk(list(valid.values()), rejected, len(chunk))


def _chunks(rows: Iterable[tuple[int, Mapping[str, str | None]]], size: int) -> Iterator[Chunk]:
    chunk: Chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _parsed(
    rows: Iterable[tuple[int, Mapping[str, str | None]]], size: int, workers: int
) -> AsyncIterator[ParsedChunk]:
    """Parsed chunks, in order. With ``workers``, validation (``phonenumbers``, ~55 µs a
    row, most of an import's time) runs in that many processes, ahead of the storing."""
    if workers <= 0:
        for chunk in _chunks(rows, size):
            yield parse_chunk(chunk)
        return
    loop = asyncio.get_running_loop()
    # spawn, not fork: this process has threads (the database's), which fork would copy
    # in whatever state they are in.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[asyncio.Future[ParsedChunk]] = deque()
        for chunk in _chunks(rows, size):
            pending.append(loop.run_in_executor(pool, parse_chunk, chunk))
            if len(pending) > 2 * workers:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()


async def import_rows(
    db: Database,
    rows: Iterable[tuple[int, Mapping[str, str | None]]],
    *,
    connector: str | None,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    workers: int = 0,
) -> ImportReport:
    """Validate and upsert ``rows`` (line, row), ``batch_size`` rows per transaction.

    ``workers`` > 0 validates in that many processes (worth it from some ten thousand
    rows: each process takes a moment to start).
    """
    if connector is not None and len(connector) > _MAX_CONNECTOR:
        raise ValueError(f"connector name longer than {_MAX_CONNECTOR} characters")
    report = ImportReport()
    handled = 0
    async for parsed in _parsed(rows, batch_size, workers):
        report.rejected.extend(parsed.rejected)
        if parsed.rows:
            await _store_batch(db, parsed.rows, connector, now, report)
        handled += parsed.handled
        if progress is not None:
            progress(handled)
    return report


async def import_csv(
    db: Database,
    path: Path,
    *,
    connector: str | None,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    workers: int = 0,
) -> ImportReport:
    """Import the numbers CSV at ``path`` (UTF-8, a BOM is fine); see :func:`import_rows`."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        return await import_rows(
            db,
            read_csv(stream),
            connector=connector,
            now=now,
            batch_size=batch_size,
            progress=progress,
            workers=workers,
        )


async def _store_batch(
    db: Database,
    rows: list[NumberRow],
    connector: str | None,
    now: datetime,
    report: ImportReport,
) -> None:
    values = [_values(row, connector, now) for row in rows]

    def store(connection: Connection) -> int:
        found = connection.execute(
            select(func.count()).where(Number.e164.in_([row.e164 for row in rows]))
        ).scalar_one()
        statement = upsert(connection, Number)
        statement = statement.on_conflict_do_update(
            index_elements=[Number.e164],
            set_={
                name: statement.excluded[name]
                for name in ("country", "carrier", "line_type", "source", "connector", "tags")
            },
        )
        connection.execute(statement, values)
        return int(found)

    existing = await db.run_write(store, bulk=True)
    report.updated += existing
    report.imported += len(rows) - existing


def _values(row: NumberRow, connector: str | None, now: datetime) -> dict[str, Any]:
    return {
        "e164": row.e164,
        "country": row.country,
        "carrier": row.carrier,
        "line_type": row.line_type,
        "source": row.source,
        "connector": connector,
        "tags": list(row.tags),
        "state": NumberState.FREE.value,
        "state_since": now,
        "last_used_at": EPOCH,
        "rentals_count": 0,
        "messages_count": 0,
        "probes_ok": 0,
        "probes_failed": 0,
        "probe_failure_streak": 0,
        "created_at": now,
    }


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "CsvFormatError",
    "ImportReport",
    "NumberRow",
    "ParsedChunk",
    "Progress",
    "Rejected",
    "count_data_lines",
    "import_csv",
    "import_rows",
    "parse_chunk",
    "parse_row",
    "parse_tags",
    "read_csv",
]
