"""SMPP ingest benchmark: the simulator's load generator against two receivers.

For each receiver (our connector with a sink that does nothing, and the
minimal hand-written asyncio receiver that is the ceiling) and each window
(1 and 100), the simulator is started as a subprocess with ``--load``; the
receiver binds as another subprocess. Each reports its own CPU time from the
OS (user + system). Printed: deliver_sm acked per second, the receiver's CPU
per message, the generator's CPU share (is it the bottleneck?), and the
connector/ceiling ratios. Target (issue 2): at window 100 the connector spends
at most 2x the ceiling's CPU per message.

    .venv/bin/python bench/smpp_ingest.py [--count N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_pair(receiver: str, window: int, count: int, numbers: int) -> dict[str, float]:
    smpp_port, http_port = free_port(), free_port()
    simulator = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "smslocker",
            "simulate",
            "--smpp-port",
            str(smpp_port),
            "--http-port",
            str(http_port),
            "--system-id",
            "bench",
            "--password",
            "bench",
            "--load",
            str(count),
            "--load-rate",
            "0",
            "--load-numbers",
            str(numbers),
            "--load-window",
            str(window),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"},
    )
    try:
        _wait_for_port(smpp_port, simulator)
        receiver_process = subprocess.run(
            [
                PYTHON,
                str(HERE / "receivers.py"),
                receiver,
                "--port",
                str(smpp_port),
                "--count",
                str(count),
                "--system-id",
                "bench",
                "--password",
                "bench",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "SMSLOCKER_LOG_LEVEL": "WARNING"},
            check=True,
        )
        generator_out, _ = simulator.communicate(timeout=120)
    finally:
        if simulator.poll() is None:
            simulator.kill()
    receiver_report = json.loads(receiver_process.stdout.strip().splitlines()[-1])
    generator_report = json.loads(generator_out.strip().splitlines()[-1])
    return {
        "receiver": receiver,
        "window": window,
        "messages": receiver_report["messages"],
        "rate": receiver_report["messages"] / receiver_report["wall_s"],
        "cpu_us": receiver_report["cpu_s"] / receiver_report["messages"] * 1e6,
        "receiver_cpu_share": receiver_report["cpu_s"] / receiver_report["wall_s"],
        "generator_cpu_share": generator_report["cpu_s"] / max(generator_report["elapsed_s"], 1e-9),
        "generator_acked": generator_report["acked"],
    }


def _wait_for_port(port: int, process: subprocess.Popen[str]) -> None:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("simulator exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("simulator did not open its port")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="messages per run")
    parser.add_argument("--numbers", type=int, default=1000, help="destination numbers")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    count = 2_000 if args.quick else args.count
    results = []
    for window in (1, 100):
        window_count = max(count // 20, 500) if window == 1 else count
        for receiver in ("ceiling", "connector"):
            result = run_pair(receiver, window, window_count, args.numbers)
            results.append(result)
            print(
                f"window {window:>3}  {receiver:<9}  {result['messages']:>8} msgs  "
                f"{result['rate']:>10,.0f} acked/s  {result['cpu_us']:6.2f} µs CPU/msg  "
                f"receiver CPU {result['receiver_cpu_share']:.0%}  "
                f"generator CPU {result['generator_cpu_share']:.0%}",
                flush=True,
            )
    for window in (1, 100):
        ceiling = next(r for r in results if r["window"] == window and r["receiver"] == "ceiling")
        ours = next(r for r in results if r["window"] == window and r["receiver"] == "connector")
        ratio_cpu = ours["cpu_us"] / ceiling["cpu_us"]
        ratio_rate = ours["rate"] / ceiling["rate"]
        verdict = (
            ""
            if window != 100
            else ("  (target ≤ 2.0: " + ("met" if ratio_cpu <= 2 else "NOT met") + ")")
        )
        print(
            f"window {window:>3}: connector/ceiling CPU per message {ratio_cpu:.2f}x, "
            f"throughput {ratio_rate:.2f}x{verdict}"
        )
        bottleneck = max(ceiling["generator_cpu_share"], ours["generator_cpu_share"])
        if bottleneck > 0.9:
            print(
                f"window {window:>3}: the generator used {bottleneck:.0%} of a core: a bottleneck"
            )
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
