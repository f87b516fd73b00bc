"""``bench/bus.py`` runs to the end on both buses and reports every scenario (it asserts
no speed: the figures are for ``make bench``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bus.py"


@pytest.mark.timeout(120)
def test_the_bus_benchmark_runs_every_scenario_on_both_buses(redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--count", "200", "--redis-url", redis_url],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    measured = {(result["bus"], result["scenario"].split()[0]) for result in results}
    scenarios = {"one-by-one", "burst", "batch", "fan-out"}
    buses = ("in-process", "redis")
    assert measured == {(bus, scenario) for bus in buses for scenario in scenarios}
    for result in results:
        assert result["events"] >= 100  # every event arrived (fan-out measures count // 10)
        assert 0 < result["p50_us"] <= result["p99_us"] <= result["max_us"]
