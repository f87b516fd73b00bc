"""``bench/rent.py`` runs end to end on a small pool and prints its figures (no speed asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "rent.py"


@pytest.mark.timeout(60)
def test_the_rent_benchmark_runs_on_a_small_pool() -> None:
    command = [sys.executable, str(BENCH), "--numbers", "2000", "--rounds", "50"]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
        env={**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    [sqlite] = report["results"]
    assert (sqlite["database"], sqlite["numbers"], sqlite["rounds"]) == ("sqlite (FULL)", 2000, 50)
    for name in ("rent", "release", "both"):
        assert 0 < sqlite[f"{name}_p50_ms"] <= sqlite[f"{name}_p99_ms"]
    assert sqlite["cpu_ms_per_round"] > 0
    assert "rent+release p50" in done.stdout
