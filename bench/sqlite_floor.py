"""The SQLite floor of ingest: the messages table's INSERT and COMMIT alone, nothing else.

What ``bench/ingest.py`` can never beat on this machine: the same INSERT statement that
ingest runs (:data:`smslocker.routing.ingest_sql.SQLITE_INSERT`), on the schema the
migrations make, 100 rows a transaction as a window of 100 gives, with no SMPP, no
routing, no OTP extraction and no Python per row beyond building the tuples. Rows
carry random de-duplication keys as real ones do (a hash), so each transaction dirties
a page of the key index per row: the WAL write and fsync of those pages is the cost the
variants show.

Printed per variant: rows/s (wall clock, BEGIN to COMMIT of every batch), CPU µs per row,
and the WAL bytes per transaction.

    .venv/bin/python bench/sqlite_floor.py [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from smslocker.routing.ingest_sql import SQLITE_INSERT
from smslocker.store import Database, upgrade

BATCH = 100
TEXT = "Your verification code is 482913"
CODES = '[{"value":"482913","score":0.9,"kind":"plain"}]'
STAMP = "2026-12-02 10:00:00.123456"


def migrated(folder: Path) -> Path:
    path = folder / "floor.db"

    async def make() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await upgrade(database)
        finally:
            await database.close()

    asyncio.run(make())
    return path


def batches(rows: int) -> list[list[tuple[Any, ...]]]:
    made = [
        (
            index + 1, secrets.token_hex(16), "bench", "447700900000", f"+4479{index:07d}",
            TEXT, None, 0, "gsm7", 1, 1, 0, None, STAMP, STAMP, None, None, CODES, None,
            None, 0, None,
        )
        for index in range(rows)
    ]  # fmt: skip
    return [made[start : start + BATCH] for start in range(0, rows, BATCH)]


def run(rows: int, synchronous: str, dedup_index: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="smslocker-floor-") as folder:
        path = migrated(Path(folder))
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={synchronous}")
        connection.execute("PRAGMA wal_autocheckpoint=0")
        if not dedup_index:
            connection.execute("DROP INDEX ix_messages_dedup")
        wal = Path(f"{path}-wal")
        work = batches(rows)
        written = 0
        started, cpu = time.perf_counter(), time.process_time()
        for number, batch in enumerate(work, 1):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(SQLITE_INSERT, batch)
            connection.execute("COMMIT")
            if number % 100 == 0:  # as the writer does: a checkpoint every 100 commits
                written += wal.stat().st_size
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        written += wal.stat().st_size if wal.exists() else 0
        connection.close()
    return {
        "synchronous": synchronous,
        "dedup_index": dedup_index,
        "rows": rows,
        "rate": rows / wall,
        "cpu_us": cpu / rows * 1e6,
        "wal_kb_per_transaction": written / len(work) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.rows = 2_000
    results = []
    for synchronous, dedup_index in (("FULL", True), ("FULL", False), ("NORMAL", True)):
        result = run(args.rows, synchronous, dedup_index)
        results.append(result)
        print(
            f"synchronous={synchronous:<6} dedup index {'on ' if dedup_index else 'off'}  "
            f"{result['rate']:>9,.0f} rows/s  {result['cpu_us']:5.1f} µs CPU/row  "
            f"WAL {result['wal_kb_per_transaction']:6.0f} KB/transaction",
            flush=True,
        )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
