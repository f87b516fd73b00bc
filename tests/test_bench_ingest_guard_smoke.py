"""``bench/ingest_guard.py`` runs and prints what sealing and filters add per message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "ingest_guard.py"


def test_the_guard_cost_benchmark_runs_quick() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--count", "400", "--runs", "1", "--filters", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"prepare .*: \d+\.\d µs CPU/msg", result.stdout)
    for case in ("sealed", "filtered", "sealed\\+filtered"):
        assert re.search(rf"\+ {case}\s+[+-]\d+\.\d µs/msg", result.stdout), result.stdout
