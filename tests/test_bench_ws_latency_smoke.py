"""``bench/ws_latency.py --quick`` runs end to end and prints its figures (it asserts no
speed: every message injected at the simulator arrives on a WebSocket, once)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "ws_latency.py"


def _run(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), "--quick", *options],
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
        env={**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"},
    )


@pytest.mark.timeout(120)
def test_the_websocket_latency_benchmark_runs_quick() -> None:
    done = _run()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    [sqlite] = report["results"]
    assert sqlite["received"] == sqlite["injected"] == 1000
    assert sqlite["stray_frames"] == 0  # nothing twice
    assert sqlite["simulator_acked"] >= 1000
    assert 0 < sqlite["p50_ms"] <= sqlite["p99_ms"]
    assert "p99" in done.stdout


@pytest.mark.timeout(120)
def test_on_the_redis_bus_every_message_arrives_once(redis_url: str) -> None:
    # The run that once lost a fifth of its events: published one PUBLISH at a time, the
    # bus fell behind and the ingest dropped what it could not queue.
    done = _run("--redis", redis_url)
    assert done.returncode == 0, done.stderr
    [sqlite] = json.loads(done.stdout.strip().splitlines()[-1])["results"]
    assert sqlite["received"] == sqlite["injected"] == 1000
    assert sqlite["stray_frames"] == 0
