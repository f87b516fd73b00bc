"""The SQL of one ingest batch, per database: set-based, a fixed number of statements per batch.

Per batch, whatever its size: one duplicate query, one window query, one insert,
one update of the rentals' counters, and one of the numbers' (their counters, and the
compare-and-set RESERVED -> IN_USE of those whose rental got its first message). The
logic between the statements is :mod:`.batch`'s.

Why driver-level SQL and not Core: this is the hot path, and it showed in the
profile. A Core ``insert(Message)`` executemany runs the column types' Python bind
processors for every value of every row (UTCDateTime, JSONText); here rows go as
tuples in the representation UTCDateTime itself produces: naive-UTC text on SQLite
(so the window comparisons stay text comparisons), aware datetimes on PostgreSQL.

* SQLite: the whole batch is one plain function, :func:`store_sqlite`, run by
  :meth:`Database.run_write <smslocker.store.db.Database.run_write>` in the writer
  thread: one thread round trip per batch. Through aiosqlite every statement was
  three or four round trips (cursor, execute, fetch, close), 150-250 µs each
  statement: 1.5 ms of a window-100 cycle whose budget is 3 ms.
* PostgreSQL: arrays and ``unnest``, one network round trip per statement, on
  asyncpg's connection underneath SQLAlchemy's transaction.

Everything off the hot path (inbox, retention) uses Core.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.pool.lifecycle import NumberEvent, NumberState, sources_of

from .batch import first_of_each_key, fresh_rows, routable, route_rows, tally, window_query_range
from .prepare import PreparedMessage
from .route import RentalWindow, as_utc

_COLUMNS = (
    'dedup_key, connector, source, destination, text, "binary", data_coding, encoding, '
    "parts, complete, lossy, smsc_timestamp, received_at, message_time, rental_id, "
    "account_id, codes, service"
)
_WINDOW_COLUMNS = "r.id, r.account_id, r.number, r.number_id, r.status, r.started_at, r.window_end"
# The compare-and-set of the first message, as SQL: "a message went to the active rental of
# this number (the parameter) and the number is still in a state FIRST_MESSAGE leaves". The
# states are the lifecycle table's own constant strings, so they are written in the SQL.
_FIRST_MESSAGE_SOURCES = ", ".join(
    f"'{state.value}'" for state in sorted(sources_of(NumberEvent.FIRST_MESSAGE))
)
_IN_USE = NumberState.IN_USE.value


# --------------------------------------------------------------------------- SQLite

_SQLITE_DEDUP = (
    "SELECT dedup_key FROM messages "
    "WHERE dedup_key IN (SELECT value FROM json_each(?)) AND received_at >= ?"
)
_SQLITE_WINDOWS = (
    f"SELECT {_WINDOW_COLUMNS} FROM rentals AS r "
    "WHERE r.number IN (SELECT value FROM json_each(?)) AND r.started_at <= ? AND r.window_end >= ?"
)
_SQLITE_INSERT = f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * 18)})"
_SQLITE_COUNT_RENTALS = (
    "UPDATE rentals SET messages_count = messages_count + ?, "
    "first_message_at = COALESCE(first_message_at, ?) WHERE id = ?"
)
_SQLITE_FIRST = f"(? AND state IN ({_FIRST_MESSAGE_SOURCES}))"
_SQLITE_COUNT_NUMBERS = (
    "UPDATE numbers SET messages_count = messages_count + ?, "
    f"state = CASE WHEN {_SQLITE_FIRST} THEN '{_IN_USE}' ELSE state END, "
    f"state_since = CASE WHEN {_SQLITE_FIRST} THEN ? ELSE state_since END "
    "WHERE e164 = ?"
)


class _SqliteTimes:
    """UTCDateTime's SQLite text for datetimes, each converted once per batch (the rows of
    one read share their received_at, which usually is their message time too)."""

    def __init__(self) -> None:
        self._seen: dict[datetime, str] = {}

    def __call__(self, value: datetime) -> str:
        text = self._seen.get(value)
        if text is None:
            # Naive UTC, always with microseconds, so that text order is time order.
            text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            self._seen[value] = text
        return text


def store_sqlite(
    connection: Connection,
    rows: Sequence[PreparedMessage],
    since: datetime,
    now: datetime,
) -> list[PreparedMessage]:
    """Store the rows not seen since ``since``, routed, in ``connection``'s transaction
    (a sync connection: the writer thread's, or ``run_sync``'s); returns them in order."""
    execute = connection.exec_driver_sql
    time = _SqliteTimes()
    first = first_of_each_key(rows)
    found = execute(_SQLITE_DEDUP, (json.dumps(list(first)), time(since)))
    fresh = fresh_rows(first, {key for (key,) in found})
    if not fresh:
        return fresh
    candidates = routable(fresh)
    if candidates:
        numbers, earliest, latest = window_query_range(candidates)
        windows = execute(_SQLITE_WINDOWS, (json.dumps(numbers), time(latest), time(earliest)))
        route_rows(candidates, [_window(row) for row in windows])
    execute(
        _SQLITE_INSERT,
        [
            (
                row.dedup_key,
                row.connector,
                row.source,
                row.destination,
                row.text,
                row.binary,
                row.data_coding,
                row.encoding,
                row.parts,
                int(row.complete),
                int(row.lossy),
                None if row.smsc_timestamp is None else time(row.smsc_timestamp),
                time(row.received_at),
                time(row.message_time),
                row.rental_id,
                row.account_id,
                row.codes_json,
                row.service,
            )
            for row in fresh
        ],
    )
    counts = tally(fresh)
    if counts.rentals:
        execute(
            _SQLITE_COUNT_RENTALS,
            [(n, time(first_at), rental_id) for rental_id, n, first_at in counts.rental_counts()],
        )
    if counts.numbers:
        stamp = time(now)
        execute(
            _SQLITE_COUNT_NUMBERS,
            [(n, routed, routed, stamp, e164) for e164, n, routed in counts.number_counts()],
        )
    return fresh


# --------------------------------------------------------------------------- PostgreSQL

# Semi-joins from the batch's keys and numbers, not "dedup_key = ANY($1)": on a table not
# analyzed yet (a fresh install at full speed, before autovacuum comes round) the planner
# took ANY for half the table and scanned all of it, 20 ms a batch and growing; these
# forms probe the index once per key whatever the statistics say.
_POSTGRES_DEDUP = (
    "SELECT k.key FROM unnest($1::varchar[]) AS k(key) WHERE EXISTS ("
    "SELECT 1 FROM messages AS m WHERE m.dedup_key = k.key AND m.received_at >= $2)"
)
# FOR UPDATE: a release or expiry of one of these rentals waits for this batch, so it
# either happened before (we route by its new window) or sees our messages_count (no
# refund for a rental that got a message). By id, so that two gateways lock in one order;
# rentals before numbers, the lock order of smslocker.rentals.ending.
_POSTGRES_WINDOWS = (
    f"SELECT {_WINDOW_COLUMNS} FROM unnest($1::varchar[]) AS d(number) "
    "JOIN rentals AS r ON r.number = d.number "
    "WHERE r.started_at <= $2 AND r.window_end >= $3 ORDER BY r.id FOR UPDATE OF r"
)
_POSTGRES_INSERT = (
    f"INSERT INTO messages ({_COLUMNS}) SELECT * FROM unnest("
    "$1::varchar[], $2::varchar[], $3::varchar[], $4::varchar[], $5::text[], "
    "$6::bytea[], $7::int[], $8::varchar[], $9::int[], $10::bool[], $11::bool[], "
    "$12::timestamptz[], $13::timestamptz[], $14::timestamptz[], $15::varchar[], "
    "$16::int[], $17::text[], $18::varchar[])"
)
_POSTGRES_COUNT_RENTALS = (
    "UPDATE rentals AS r SET messages_count = r.messages_count + u.n, "
    "first_message_at = COALESCE(r.first_message_at, u.first) "
    "FROM unnest($1::varchar[], $2::int[], $3::timestamptz[]) AS u(id, n, first) "
    "WHERE r.id = u.id"
)
# Two gateways updating the same numbers can deadlock here; PostgreSQL then fails one
# batch, whose PDUs are nacked and redelivered: slower, never lost.
_POSTGRES_FIRST = f"(u.routed AND n.state IN ({_FIRST_MESSAGE_SOURCES}))"
_POSTGRES_COUNT_NUMBERS = (
    "UPDATE numbers AS n SET messages_count = n.messages_count + u.c, "
    f"state = CASE WHEN {_POSTGRES_FIRST} THEN '{_IN_USE}' ELSE n.state END, "
    f"state_since = CASE WHEN {_POSTGRES_FIRST} THEN $4 ELSE n.state_since END "
    "FROM unnest($1::varchar[], $2::int[], $3::bool[]) AS u(e164, c, routed) "
    "WHERE n.e164 = u.e164"
)


async def store_postgres(
    connection: AsyncConnection,
    rows: Sequence[PreparedMessage],
    since: datetime,
    now: datetime,
) -> list[PreparedMessage]:
    """Store the rows not seen since ``since``, routed, in ``connection``'s transaction, on
    asyncpg's connection underneath it; returns them in arrival order."""
    # Through SQLAlchemy, this one: its asyncpg adapter begins the transaction lazily, on
    # the first statement it runs; straight to the driver, every statement of the batch
    # was its own autocommitted transaction (test_a_batch_is_one_transaction_...).
    # Custom plans: asyncpg prepares each statement once per connection, and PostgreSQL
    # then settles on a generic plan made when the table was small, and (until autovacuum
    # analyzes it) keeps scanning the whole of messages for the duplicates of a batch:
    # 3 ms a batch after 30,000 messages, and growing. Planning each time costs ~0.1 ms.
    await connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
    driver = await _driver(connection)
    first = first_of_each_key(rows)
    found = await driver.fetch(_POSTGRES_DEDUP, list(first), since)
    fresh = fresh_rows(first, {row[0] for row in found})
    if not fresh:
        return fresh
    candidates = routable(fresh)
    if candidates:
        numbers, earliest, latest = window_query_range(candidates)
        windows = await driver.fetch(_POSTGRES_WINDOWS, numbers, latest, earliest)
        route_rows(candidates, [_window(row) for row in windows])
    await driver.execute(_POSTGRES_INSERT, *_columns(fresh))
    counts = tally(fresh)
    if counts.rentals:
        rental_counts = counts.rental_counts()
        await driver.execute(
            _POSTGRES_COUNT_RENTALS,
            [rental_id for rental_id, _, _ in rental_counts],
            [n for _, n, _ in rental_counts],
            [first_at for _, _, first_at in rental_counts],
        )
    if counts.numbers:
        number_counts = counts.number_counts()
        await driver.execute(
            _POSTGRES_COUNT_NUMBERS,
            [e164 for e164, _, _ in number_counts],
            [n for _, n, _ in number_counts],
            [routed for _, _, routed in number_counts],
            now,
        )
    return fresh


def _columns(rows: Sequence[PreparedMessage]) -> tuple[list[Any], ...]:
    """The rows as 18 column arrays, for one ``INSERT ... SELECT * FROM unnest(...)``."""
    return (
        [row.dedup_key for row in rows],
        [row.connector for row in rows],
        [row.source for row in rows],
        [row.destination for row in rows],
        [row.text for row in rows],
        [row.binary for row in rows],
        [row.data_coding for row in rows],
        [row.encoding for row in rows],
        [row.parts for row in rows],
        [row.complete for row in rows],
        [row.lossy for row in rows],
        [row.smsc_timestamp for row in rows],
        [row.received_at for row in rows],
        [row.message_time for row in rows],
        [row.rental_id for row in rows],
        [row.account_id for row in rows],
        [row.codes_json for row in rows],
        [row.service for row in rows],
    )


async def _driver(connection: AsyncConnection) -> Any:
    """The driver's own connection (aiosqlite, asyncpg) under a SQLAlchemy connection."""
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    return driver


def _window(row: Any) -> RentalWindow:
    return RentalWindow(
        rental_id=row[0],
        account_id=row[1],
        number=row[2],
        number_id=row[3],
        status=row[4],
        started_at=as_utc(row[5]),
        window_end=as_utc(row[6]),
    )
