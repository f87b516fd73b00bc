"""``bench/ingest.py --quick``, with one receiver and with two, runs end to end and prints
its figures (it asserts no speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "ingest.py"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("binds", [1, 2])
def test_the_ingest_benchmark_runs_quick(binds: int) -> None:
    command = [sys.executable, str(BENCH), "--quick", "--rentals", "100", "--binds", str(binds)]
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
    assert sqlite["database"] == "sqlite"
    assert sqlite["binds"] == binds
    assert sqlite["messages"] == 2000  # every message stored and acked, none taken for another
    assert sqlite["generator_acked"] == 2000
    assert sqlite["routed"] > 0
    assert sqlite["rate"] > 0
    assert sqlite["cpu_us"] > 0
    assert "msg/s" in done.stdout
