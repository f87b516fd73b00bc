"""``bench/smpp_ingest.py --quick`` runs to the end and reports every receiver.

A smoke test, not a measurement: a short run's figures are noise, so only
their presence and sanity are checked. It guards the benchmark itself (it
once divided by a CPU time measured as 0 s) and the three receivers it runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "smpp_ingest.py"
RECEIVERS = ("ceiling", "floor", "connector")
WINDOWS = (1, 100)


@pytest.mark.timeout(60)
def test_quick_bench_reports_every_receiver_at_every_window() -> None:
    finished = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    for window in WINDOWS:
        for receiver in RECEIVERS:
            assert any(
                line.startswith(f"window {window:>3}  {receiver} ") and "µs CPU/msg" in line
                for line in lines
            ), (window, receiver, finished.stdout)
        for other in ("ceiling", "floor"):
            assert any(
                line.startswith(f"window {window:>3}: connector/{other}") for line in lines
            ), (window, other, finished.stdout)
    assert any("(target ≤ 2.0:" in line for line in lines)
    results = json.loads(lines[-1])["results"]
    assert {(r["window"], r["receiver"]) for r in results} == {
        (window, receiver) for window in WINDOWS for receiver in RECEIVERS
    }
    for result in results:
        assert result["messages"] == result["generator_acked"] > 0
        assert result["rate"] > 0
        assert result["cpu_us"] >= 0
