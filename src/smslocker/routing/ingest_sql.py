"""The SQL of one ingest batch, per database: set-based, a fixed number of statements per batch.

Per batch, whatever its size: a duplicate query, a window query, an insert, an
update of the rentals' counters, and one of the numbers' (their counters, and the
compare-and-set RESERVED -> IN_USE of those whose rental got its first message); on
PostgreSQL also the webhook outbox rows of the batch's events. The logic between the
statements is :mod:`.batch`'s.

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
* PostgreSQL: arrays and ``unnest`` on asyncpg's connection underneath SQLAlchemy's
  transaction, two statements a batch (a look-up, then one write of everything,
  webhook outbox included) besides the transaction's own BEGIN, SET LOCAL and COMMIT.

Everything off the hot path (inbox, retention) uses Core.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from smslocker.delivery.bus import Event
from smslocker.delivery.events import EndpointSubscription, webhook_deliveries
from smslocker.pool.lifecycle import NumberEvent, NumberState, sources_of
from smslocker.screening.ingest_step import hold_unknown_senders

from .batch import first_of_each_key, fresh_rows, routable, route_rows, tally, window_query_range
from .prepare import PreparedMessage
from .route import RentalWindow, as_utc

if TYPE_CHECKING:
    from smslocker.screening.rules import RuleSet

#: The ``message.received`` events of stored rows (ingest's :func:`~.ingest.received_events`).
EventsOf = Callable[[list[PreparedMessage]], list[Event]]

_COLUMNS = (
    'dedup_key, connector, source, destination, text, "binary", data_coding, encoding, '
    "parts, complete, lossy, smsc_timestamp, received_at, message_time, rental_id, "
    "account_id, codes, service, sealed, held, held_reason"
)
# The service last: RentalWindow is the first seven; the rental's service is for screening.
_WINDOW_COLUMNS = (
    "r.id, r.account_id, r.number, r.number_id, r.status, r.started_at, r.window_end, r.service"
)
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
# Ids chosen here, not by SQLite, so that the rows' events can carry them without a
# RETURNING per row (executemany returns nothing). Safe: the writer holds the database's
# write lock from BEGIN IMMEDIATE, so nobody else inserts between MAX and INSERT. The
# same ids SQLite itself would pick (the largest plus one: no AUTOINCREMENT here).
_SQLITE_NEXT_ID = "SELECT COALESCE(MAX(id), 0) + 1 FROM messages"
#: Public for bench/sqlite_floor.py, which measures this statement alone.
SQLITE_INSERT = f"INSERT INTO messages (id, {_COLUMNS}) VALUES ({', '.join('?' * 22)})"
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
    rules: RuleSet | None = None,
) -> list[PreparedMessage]:
    """Store the rows not seen since ``since``, routed, in ``connection``'s transaction
    (a sync connection: the writer thread's, or ``run_sync``'s); returns them in order,
    each with its ``id``. With ``rules``, a row from a sender its rental's service does
    not allow is stored held (:func:`~smslocker.screening.ingest_step.hold_unknown_senders`)."""
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
        windows = execute(
            _SQLITE_WINDOWS, (json.dumps(numbers), time(latest), time(earliest))
        ).all()
        route_rows(candidates, [_window(row) for row in windows])
        if rules is not None and rules.service_senders and windows:
            hold_unknown_senders(rules, candidates, {row[0]: row[7] for row in windows})
    next_id = execute(_SQLITE_NEXT_ID).scalar_one()
    for offset, row in enumerate(fresh):
        row.id = next_id + offset
    execute(
        SQLITE_INSERT,
        [
            (
                row.id,
                row.dedup_key,
                row.connector,
                row.source,
                row.destination,
                # Sealed: the body is in ``sealed`` only (smslocker.privacy).
                row.text if row.sealed is None else None,
                row.binary if row.sealed is None else None,
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
                row.codes_json if row.sealed is None else None,
                row.service,
                row.sealed,
                int(row.held),
                row.held_reason,
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

# Two statements a batch, whatever it holds: one that looks up (duplicates, windows, the
# webhook endpoints of the windows' accounts, ids for the new rows) and one that writes
# (messages, counters, webhook outbox). Each round trip to the server and back was ~0.1 ms
# of a batch whose budget is 6 ms, and there were eight to ten.
#
# Look-up, one result set of tagged rows:
#   'w' a rental window of a destination: id, account, number, number id, status, times.
#       FOR UPDATE: a release or expiry of one of these rentals waits for this batch, so
#       it either happened before (we route by its new window) or sees our
#       messages_count (no refund for a rental that got a message). By id, so that two
#       gateways lock in one order; rentals before numbers, the lock order of
#       smslocker.rentals.ending.
#   'd' a key already stored within the de-duplication window. Semi-joins from the
#       batch's keys, not "dedup_key = ANY($1)": on a table not analyzed yet (a fresh
#       install at full speed, before autovacuum comes round) the planner took ANY for
#       half the table and scanned all of it, 20 ms a batch and growing; this form probes
#       the index once per key whatever the statistics say.
#   'e' an enabled webhook endpoint of an account owning one of those rentals, with the
#       event types it subscribed to (the outbox rows are made from them: correct for an
#       endpoint created a moment ago, as it is read in this very transaction).
#   'i' an id for a new message, from the table's own sequence (one per key of the
#       batch: a duplicate's id is a gap, as a rolled-back insert's would be), so that
#       the rows' events, and so their webhooks, can be written with the rows.
_POSTGRES_LOOK_UP = (
    "WITH w AS ("
    f"SELECT {_WINDOW_COLUMNS} FROM unnest($3::varchar[]) AS d(number) "
    "JOIN rentals AS r ON r.number = d.number "
    "WHERE r.started_at <= $4 AND r.window_end >= $5 ORDER BY r.id FOR UPDATE OF r) "
    "SELECT 'w', w.id, w.account_id, w.number::text, w.number_id, w.status, w.started_at, "
    "w.window_end, w.service FROM w "
    "UNION ALL SELECT 'd', k.key, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM unnest($1::varchar[]) AS k(key) WHERE EXISTS ("
    "SELECT 1 FROM messages AS m WHERE m.dedup_key = k.key AND m.received_at >= $2) "
    "UNION ALL SELECT 'e', e.id, e.account_id, e.events, NULL, NULL, NULL, NULL, NULL "
    "FROM webhook_endpoints AS e "
    "WHERE e.enabled AND e.account_id IN (SELECT w.account_id FROM w) "
    "UNION ALL SELECT 'i', NULL, nextval(pg_get_serial_sequence('messages', 'id')), "
    "NULL, NULL, NULL, NULL, NULL, NULL FROM generate_series(1, $6::int)"
)
# Two gateways updating the same numbers can deadlock here; PostgreSQL then fails one
# batch, whose PDUs are nacked and redelivered: slower, never lost. The sub-statements
# touch different tables and read nothing the others write, so running them as one
# statement (one snapshot) changes nothing but the round trips; an empty array is a
# sub-statement that does nothing.
_POSTGRES_FIRST = f"(u.routed AND n.state IN ({_FIRST_MESSAGE_SOURCES}))"
_POSTGRES_WRITE = (
    f"WITH m AS (INSERT INTO messages (id, {_COLUMNS}) SELECT * FROM unnest("
    "$1::bigint[], $2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[], $6::text[], "
    "$7::bytea[], $8::int[], $9::varchar[], $10::int[], $11::bool[], $12::bool[], "
    "$13::timestamptz[], $14::timestamptz[], $15::timestamptz[], $16::varchar[], "
    "$17::int[], $18::text[], $19::varchar[], $20::bytea[], $21::bool[], $22::varchar[])), "
    "r AS (UPDATE rentals AS r SET messages_count = r.messages_count + u.n, "
    "first_message_at = COALESCE(r.first_message_at, u.first) "
    "FROM unnest($23::varchar[], $24::int[], $25::timestamptz[]) AS u(id, n, first) "
    "WHERE r.id = u.id), "
    "n AS (UPDATE numbers AS n SET messages_count = n.messages_count + u.c, "
    f"state = CASE WHEN {_POSTGRES_FIRST} THEN '{_IN_USE}' ELSE n.state END, "
    f"state_since = CASE WHEN {_POSTGRES_FIRST} THEN $29 ELSE n.state_since END "
    "FROM unnest($26::varchar[], $27::int[], $28::bool[]) AS u(e164, c, routed) "
    "WHERE n.e164 = u.e164), "
    "h AS (INSERT INTO webhook_deliveries (id, endpoint_id, account_id, event_type, "
    "payload, status, attempts, next_attempt_at, created_at) SELECT * FROM unnest("
    "$30::varchar[], $31::varchar[], $32::int[], $33::varchar[], $34::text[], "
    "$35::varchar[], $36::int[], $37::timestamptz[], $38::timestamptz[])) "
    "SELECT 1"
)
_OUTBOX_COLUMNS = (
    "id",
    "endpoint_id",
    "account_id",
    "event_type",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)


async def store_postgres(
    connection: AsyncConnection,
    rows: Sequence[PreparedMessage],
    since: datetime,
    now: datetime,
    events_of: EventsOf,
    rules: RuleSet | None = None,
) -> tuple[list[PreparedMessage], list[Event]]:
    """Store the rows not seen since ``since``, routed, in ``connection``'s transaction, on
    asyncpg's connection underneath it, with the webhook outbox rows of their events
    (``events_of(fresh)``, once the rows have their ids); returns the stored rows in
    arrival order and their events. ``rules`` as for :func:`store_sqlite`."""
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
    candidates = routable(first.values())
    if candidates:
        numbers, earliest, latest = window_query_range(candidates)
    else:
        numbers, earliest, latest = [], now, now
    found = await driver.fetch(
        _POSTGRES_LOOK_UP, list(first), since, numbers, latest, earliest, len(first)
    )
    existing: set[str] = set()
    windows: list[RentalWindow] = []
    services: dict[str, str | None] = {}
    endpoints: list[EndpointSubscription] = []
    ids: list[int] = []
    for record in found:
        tag = record[0]
        if tag == "i":
            ids.append(record[2])
        elif tag == "d":
            existing.add(record[1])
        elif tag == "w":
            window = tuple(record)[1:]
            windows.append(_window(window))
            services[window[0]] = window[7]
        else:
            endpoints.append((record[1], record[2], json.loads(record[3] or "[]")))
    fresh = fresh_rows(first, existing)
    if not fresh:
        return fresh, []
    fresh_candidates = routable(fresh)
    if fresh_candidates and windows:
        route_rows(fresh_candidates, windows)
        if rules is not None and rules.service_senders:
            hold_unknown_senders(rules, fresh_candidates, services)
    for row, message_id in zip(fresh, sorted(ids), strict=False):
        row.id = message_id
    events = events_of(fresh)
    outbox = webhook_deliveries(events, endpoints, now) if endpoints and events else []
    counts = tally(fresh)
    rental_counts = counts.rental_counts()
    number_counts = counts.number_counts()
    await driver.execute(
        _POSTGRES_WRITE,
        [row.id for row in fresh],
        *_columns(fresh),
        [rental_id for rental_id, _, _ in rental_counts],
        [n for _, n, _ in rental_counts],
        [first_at for _, _, first_at in rental_counts],
        [e164 for e164, _, _ in number_counts],
        [n for _, n, _ in number_counts],
        [routed for _, _, routed in number_counts],
        now,
        *([delivery[column] for delivery in outbox] for column in _OUTBOX_COLUMNS),
    )
    return fresh, events


def _columns(rows: Sequence[PreparedMessage]) -> tuple[list[Any], ...]:
    """The rows as 21 column arrays, for one ``INSERT ... SELECT * FROM unnest(...)``."""
    return (
        [row.dedup_key for row in rows],
        [row.connector for row in rows],
        [row.source for row in rows],
        [row.destination for row in rows],
        [row.text if row.sealed is None else None for row in rows],
        [row.binary if row.sealed is None else None for row in rows],
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
        [row.codes_json if row.sealed is None else None for row in rows],
        [row.service for row in rows],
        [row.sealed for row in rows],
        [row.held for row in rows],
        [row.held_reason for row in rows],
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
