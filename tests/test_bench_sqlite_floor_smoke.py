"""``bench/sqlite_floor.py --quick`` runs and prints its three variants (it asserts no speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "sqlite_floor.py"


@pytest.mark.timeout(60)
def test_the_sqlite_floor_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    assert [(r["synchronous"], r["dedup_index"]) for r in results] == [
        ("FULL", True),
        ("FULL", False),
        ("NORMAL", True),
    ]
    assert all(r["rows"] == 2000 and r["rate"] > 0 for r in results)
    # The key index is what each transaction writes most of: without it, far less WAL.
    with_index, without_index, _ = results
    assert without_index["wal_kb_per_transaction"] < with_index["wal_kb_per_transaction"]
