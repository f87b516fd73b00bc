"""The template memo of OTP extraction (:class:`~smslocker.routing.otp.CodeExtractor`)
answers exactly what :func:`~smslocker.routing.otp.extract_codes` answers.

The memo reuses the candidates of one text for every text with the same digit mask; these
tests feed it the corpus, then the corpus with its digits redrawn (other codes, leading
zeros, years, repeated values), and random texts, through one warm extractor each.
"""

from __future__ import annotations

import random
import re
import tomllib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from smslocker.routing.otp import CodeExtractor, extract_codes, template_of

CORPUS_PATH = Path(__file__).parent / "otp_corpus.toml"
with CORPUS_PATH.open("rb") as _file:
    TEXTS = [message["text"] for message in tomllib.load(_file)["message"]]

_DIGIT = re.compile(r"[0-9]")


def redrawn(text: str, rng: random.Random) -> str:
    """``text`` with each ASCII digit replaced by a random one (zeros and repeats included)."""
    return _DIGIT.sub(lambda _match: rng.choice("0123456789"), text)


def test_the_corpus_and_its_redrawn_digits_give_the_same_codes() -> None:
    extractor = CodeExtractor()
    rng = random.Random(20261202)
    for text in TEXTS:
        assert extractor(text) == extract_codes(text), text
    for round_ in range(30):
        for text in TEXTS:
            variant = redrawn(text, rng) if round_ else text
            assert extractor(variant) == extract_codes(variant), variant
    assert extractor.hits > 0  # the memo was used, not just bypassed


def test_templates_hide_digits_but_not_what_reads_their_value() -> None:
    assert template_of("Your code is 482913") == template_of("Your code is 917305")
    assert template_of("Your code is 400913") == template_of("Your code is 917305")
    # A leading zero changes what a number can be (a phone number), so it shows.
    assert template_of("Call 0800 123 4567") != template_of("Call 1800 123 4567")
    # A year reads its value; a context word with a digit too.
    assert template_of("Code 4821, valid until 2026") is None
    assert template_of("Your 2FA code is 482913") is None
    assert template_of("Code 4821") is not None


def test_same_template_different_values_one_per_value() -> None:
    """Ranking is redone on each text's own values: "one per value" merges by the real
    digits, not the template's."""
    extractor = CodeExtractor()
    first = "Code 482913 or 482913"
    second = "Code 482913 or 917305"
    assert template_of(first) == template_of(second)
    assert extractor(first) == extract_codes(first)
    assert extractor(second) == extract_codes(second)
    assert len(extractor(first)) == 1
    assert len(extractor(second)) == 2


def test_the_memo_is_bounded() -> None:
    extractor = CodeExtractor(max_templates=3)
    for n in range(10):
        text = f"{'x' * n} code 123456"
        assert extractor(text) == extract_codes(text)
    assert len(extractor._seen) == 3


_ALPHABET = st.sampled_from(
    [*"0123456789012345 -./:,ABCGxyz@#+($€*\n", "code ", "2fa ", "order ", "Call ", "19"]
)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.lists(_ALPHABET, max_size=30).map("".join), min_size=1, max_size=6))
def test_random_texts_through_one_warm_memo(texts: list[str]) -> None:
    extractor = CodeExtractor()
    rng = random.Random(len(texts))
    for text in texts + [redrawn(text, rng) for text in texts]:
        assert extractor(text) == extract_codes(text), text
