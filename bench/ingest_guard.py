"""What the guard adds to ingest's CPU per message: sealing bodies and inbound filters.

The end-to-end ingest benchmark (``bench/ingest.py --encrypt --filters N``) measures the
same thing through the whole stack, but on a busy 2-core machine its run-to-run noise
(±30 %) is larger than the effect. This one times the part that changes, in process:
preparing messages (as the sink does) with and without a key ring, and screening them
with and without ``--filters`` rules (and three services' sender lists, checked against
the message's service and its rental's), on the same 20,000 messages; CPU time, best of
``--runs``.

    .venv/bin/python bench/ingest_guard.py [--filters 30] [--runs 3]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from smslocker.gateway.messages import InboundMessage
from smslocker.privacy.keyring import KeyRing
from smslocker.routing.prepare import Preparer
from smslocker.routing.senders import SenderDirectory
from smslocker.screening.ingest_step import hold_unknown_senders, screen_rows
from smslocker.screening.rules import Action, Field, FilterRule, Match, RuleSet

BATCH = 100
RENTAL = "rnt_bench"
RENTAL_SERVICES: dict[str, str | None] = {RENTAL: "google"}


def rule_set(count: int) -> RuleSet:
    """``count`` rules none of the messages match (deny on sources, hold on content), and
    the sender lists of three services, Google's naming the messages' sender: every
    message passes every check, so every check runs."""
    listed = [
        FilterRule(count + n, Field.SOURCE, Match.EXACT, sender, Action.ALLOW, service=service)
        for n, (service, sender) in enumerate(
            [("google", "Google"), ("whatsapp", "WhatsApp"), ("telegram", "Telegram")]
        )
    ]
    return RuleSet(
        [
            FilterRule(i, Field.SOURCE, Match.EXACT, f"spammer-{i}", Action.DENY)
            if i % 2
            else FilterRule(i, Field.CONTENT, Match.REGEX, rf"casino\s+bonus\s+{i}", Action.HOLD)
            for i in range(count)
        ]
        + listed
    )


def messages(count: int) -> list[InboundMessage]:
    now = datetime.now(UTC)
    return [
        InboundMessage(
            connector="bench",
            source="Google",
            destination=f"1415555{n % 5000:04d}",
            text=f"G-{n:06d} is your Google verification code.",
            data_coding=0,
            encoding="gsm7",
            received_at=now,
        )
        for n in range(count)
    ]


def cpu_us(inbound: list[InboundMessage], ring: KeyRing | None, rules: RuleSet | None) -> float:
    directory = SenderDirectory()
    preparer = Preparer(
        max_skew_s=300, max_age_s=86_400, guess_service=directory.guess_service, ring=ring
    )
    started = time.process_time()
    for start in range(0, len(inbound), BATCH):
        rows = [preparer.prepare(message) for message in inbound[start : start + BATCH]]
        if rules is not None:
            kept, _denied = screen_rows(rules, rows)
            # In the batch's transaction, once routed: the rental's service's senders.
            for row in kept:
                row.rental_id = RENTAL
            hold_unknown_senders(rules, kept, RENTAL_SERVICES)
    return (time.process_time() - started) / len(inbound) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filters", type=int, default=30, help="inbound filter rules")
    parser.add_argument("--runs", type=int, default=3, help="best of this many")
    parser.add_argument("--count", type=int, default=20_000, help="messages")
    args = parser.parse_args()
    inbound = messages(args.count)
    rules = rule_set(args.filters)
    ring = KeyRing.generate()
    cases = {"plain": (None, None), "sealed": (ring, None), "filtered": (None, rules)}
    cases["sealed+filtered"] = (ring, rules)
    # Cases interleaved run by run, best of each: this machine's speed drifts by tens of
    # percent over a minute, and one case's runs all in a row would catch one speed.
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(args.runs):
        for name, case in cases.items():
            best[name] = min(best[name], cpu_us(inbound, *case))
    base = best["plain"]
    print(f"prepare (codes, service, dedup key): {base:.1f} µs CPU/msg")
    for name in ("sealed", "filtered", "sealed+filtered"):
        print(f"  + {name:16} {best[name] - base:+5.1f} µs/msg")
    print(f"({args.filters} filter rules; all of ingest: 40-80 µs CPU/msg, bench/ingest.py)")


if __name__ == "__main__":
    main()
