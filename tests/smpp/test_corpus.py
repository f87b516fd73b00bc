"""The corpus of hex PDUs (corpus/pdus.txt): each decodes as expected, re-encodes byte-exactly."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from smslocker.smpp import pdu as pdu_module
from smslocker.smpp import tlv
from smslocker.smpp.codec import decode, decode_body, encode
from smslocker.smpp.framing import PduBuffer
from smslocker.smpp.pdu import Pdu

CORPUS = Path(__file__).parent / "corpus" / "pdus.txt"

# Split "a=1; b='x; y'" at the semicolons that start a new key, not inside a literal.
_PAIR_SEPARATOR = re.compile(r";\s*(?=[A-Za-z_][\w:-]*=)")
# Names the expected values may use besides plain literals.
_LITERAL_NAMES = {
    "DestAddress": pdu_module.DestAddress,
    "DistributionList": pdu_module.DistributionList,
    "UnsuccessfulDelivery": pdu_module.UnsuccessfulDelivery,
}


@dataclass(frozen=True)
class Fixture:
    name: str
    data: bytes
    expected: dict[str, str]


def _value(text: str) -> Any:
    tree = ast.parse(text, mode="eval")
    # Only literals and calls of the three destination classes: a fixture file runs no code.
    allowed = (ast.Expression, ast.Constant, ast.Tuple, ast.Call, ast.Load, ast.UnaryOp, ast.USub)
    for node in ast.walk(tree):
        assert isinstance(node, allowed) or (
            isinstance(node, ast.Name) and node.id in _LITERAL_NAMES
        ), f"not a literal: {text}"
    return eval(compile(tree, "<corpus>", "eval"), {"__builtins__": {}}, dict(_LITERAL_NAMES))


def load_corpus() -> list[Fixture]:
    fixtures = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, hex_text, summary = (part.strip() for part in line.split(" | ", 2))
        pairs = dict(pair.split("=", 1) for pair in _PAIR_SEPARATOR.split(summary))
        fixtures.append(Fixture(name, bytes.fromhex(hex_text.replace(" ", "")), pairs))
    return fixtures


FIXTURES = load_corpus()


def test_corpus_is_complete() -> None:
    names = [fixture.name for fixture in FIXTURES]
    assert len(names) == len(set(names)), "duplicate fixture names"
    classes = {fixture.expected["class"] for fixture in FIXTURES}
    # Every PDU class of the codec appears in the corpus at least once.
    assert {cls.__name__ for cls in pdu_module.PDU_CLASSES} <= classes


def check(pdu: Pdu, key: str, raw: str) -> None:
    expected = _value(raw) if key != "class" else raw
    if key == "class":
        assert type(pdu).__name__ == expected
        return
    if ":" in key:
        kind, tag_text = key.split(":", 1)
        if kind == "sm_text":
            assert pdu.short_message.decode(tag_text) == expected
            return
        tag = int(tag_text, 0)
        actual: Any = {
            "tlv": tlv.find,
            "tlv_int": tlv.get_int,
            "tlv_str": tlv.get_str,
            "tlv_len": lambda tlvs, tag: len(tlv.find(tlvs, tag) or b""),
        }[kind](pdu.tlvs, tag)
        assert actual == expected
        return
    if key == "tlvs":
        assert len(pdu.tlvs) == expected
    elif key == "short_message_length":
        assert len(pdu.short_message) == expected
    elif key == "short_message_prefix":
        assert pdu.short_message.startswith(expected)
    else:
        assert getattr(pdu, key) == expected


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda fixture: fixture.name)
def test_fixture_decodes_as_expected(fixture: Fixture) -> None:
    pdu = decode(fixture.data)
    for key, raw in fixture.expected.items():
        try:
            check(pdu, key, raw)
        except AssertionError as error:
            raise AssertionError(f"{fixture.name}: {key}={raw}: {error}") from error


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda fixture: fixture.name)
def test_fixture_reencodes_byte_exactly(fixture: Fixture) -> None:
    pdu = decode(fixture.data)
    if len(fixture.data) == 16 and pdu.is_response and pdu._layout:
        # A response sent without its body re-encodes with an empty one (SMPP.md §3.2, §3.6).
        assert encode(pdu)[16:] == b"".join(
            b"\x00" * (kind in (pdu_module.CSTR, pdu_module.TIME, pdu_module.UNSUCCESS))
            for _name, kind, _size, _status in pdu._layout
        )
        assert decode(encode(pdu)) == pdu
        return
    assert encode(pdu) == fixture.data


def test_corpus_as_one_stream() -> None:
    # The whole corpus as one connection's bytes, cut into odd-sized reads.
    stream = b"".join(fixture.data for fixture in FIXTURES)
    buffer = PduBuffer()
    pdus = []
    for start in range(0, len(stream), 37):
        for command_id, status, sequence, body in buffer.feed(stream[start : start + 37]):
            pdus.append(decode_body(command_id, status, sequence, body))
    assert pdus == [decode(fixture.data) for fixture in FIXTURES]
