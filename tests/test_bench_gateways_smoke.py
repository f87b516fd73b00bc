"""``bench/gateways.py --quick``: real gateway processes share the connectors out, and every
message of the load reaches the inbox through them (it asserts no speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "gateways.py"


@pytest.mark.timeout(180)
def test_two_gateway_processes_run_one_connector_each(postgres_url: str) -> None:
    command = [
        sys.executable, str(BENCH), "--quick", "--gateways", "2", "--rentals", "100",
        "--postgres", postgres_url,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
        env={**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"},
    )
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    assert result["database"] == "postgresql"
    assert result["binds_per_process"] == [1, 1]  # shared out, not one process with both
    assert result["sessions"] == 2  # the load went over both binds
    assert result["messages"] == 2000  # the generator had every message answered
    assert result["rate"] > 0
    assert result["cpu_us"] > 0
    assert "msg/s" in done.stdout
