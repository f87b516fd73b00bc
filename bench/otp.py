"""OTP extraction micro-benchmark: microseconds per message over the test corpus.

Times ``extract_codes`` alone, and ``extract_codes`` followed by ``guess_service`` (what
ingest does for every message), over every message of tests/routing/otp_corpus.toml with
``timeit``. Each figure is the best of ``--repeat`` rounds of ``--number`` passes over the
corpus: on a shared machine the other processes only ever add time, so the minimum is the
closest to the code's own cost. Also printed: how many messages get the expected best code
and service. Target (issue): tens of microseconds per message or less.

    .venv/bin/python bench/otp.py [--number N] [--repeat N]
"""

from __future__ import annotations

import argparse
import timeit
import tomllib
from pathlib import Path
from typing import Any

from smslocker.routing.otp import extract_codes
from smslocker.routing.senders import SenderDirectory

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "routing" / "otp_corpus.toml"


def load_corpus() -> list[dict[str, Any]]:
    with CORPUS.open("rb") as file:
        messages: list[dict[str, Any]] = tomllib.load(file)["message"]
    return messages


def microseconds_per_message(run: Any, messages: int, number: int, repeat: int) -> float:
    best = min(timeit.repeat(run, number=number, repeat=repeat))
    return best / number / messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--number", type=int, default=200, help="passes over the corpus a round")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best one counts")
    arguments = parser.parse_args()

    corpus = load_corpus()
    directory = SenderDirectory()
    texts = [message["text"] for message in corpus]
    pairs = [(message["sender"], message["text"]) for message in corpus]

    def extract_only() -> None:
        for text in texts:
            extract_codes(text)

    def extract_and_guess() -> None:
        for sender, text in pairs:
            directory.guess_service(sender, text, extract_codes(text))

    codes_right = services_right = 0
    for message in corpus:
        codes = extract_codes(message["text"])
        best = codes[0].value if codes else None
        codes_right += best == message.get("code")
        service = directory.guess_service(message["sender"], message["text"], codes)
        services_right += service == message.get("service")

    count = len(corpus)
    number, repeat = arguments.number, arguments.repeat
    extract = microseconds_per_message(extract_only, count, number, repeat)
    both = microseconds_per_message(extract_and_guess, count, number, repeat)
    print(f"corpus: {count} messages, {sum(1 for m in corpus if 'code' in m)} with a code")
    print(f"best code right: {codes_right}/{count} ({codes_right / count:.1%})")
    print(f"service right:   {services_right}/{count} ({services_right / count:.1%})")
    print(f"extract_codes:                 {extract:6.1f} µs/message")
    print(f"extract_codes + guess_service: {both:6.1f} µs/message")


if __name__ == "__main__":
    main()
