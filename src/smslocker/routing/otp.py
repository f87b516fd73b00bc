"""One-time codes found in the text of an SMS, best candidate first.

Theory of operation
-------------------
1. **Origin-bound format** (WICG "Origin-bound one-time codes delivered via SMS"): when the
   last line of the message is ``@host #code``, optionally followed by `` @embedded-host``
   (or the older `` %embedded-host``), the code is bound to the site ``host`` and certain:
   score 1.0. The one leniency over the spec is that trailing whitespace is ignored.
2. **Tokens.** One pass finds digit tokens: digit runs joined by ``-``, space, ``.``,
   ``/``, ``:`` or ``,``. A token's shape decides what it can be: ``123-456``, ``123 456``,
   ``1234 5678`` are split codes (the value drops the separator); ``10:45``, ``12/01``,
   ``1.299,00``, ``2026-12-01`` are never codes; ``+1 415 555 0100``, ``0800 123 4567``,
   card numbers and IBANs (three or more groups) are never codes either. A second pass finds
   uppercase alphanumeric tokens (``AB12CD``), which count only right next to a code word.
3. **Context.** The lowercased text is searched for code words ("code", "código", "код",
   "验证码", "인증번호", ...) and decoy words ("order", "call", "card", "promo code", ...).
   A word labels the nearest numbers only: a token lying between a word and a candidate
   blocks it. When a decoy word is closer to a candidate than any code word, the candidate
   is a decoy.
4. **Score** = base for the shape + code-word proximity - penalties (price, unit, year,
   URL, masked card number). Candidates under ``MIN_SCORE`` are not reported; the rest are
   ranked by score, then position, one per value.

Values are ASCII: other decimal digits (Arabic-Indic, full-width, ...) are converted.
Google's ``G-123456`` gives ``123456``, the digits a sign-in form accepts (kind
``prefixed``). Lowercase alphanumeric codes are not recognised: in running text they cannot
be told from words. The origin-bound code is taken verbatim, as the spec defines it.

All of it is pure and sits on the ingest hot path: a message without three digits in a row
or a capital letter next to a digit costs one regex search.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from .otp_words import DECOY, LABEL, STRONG, WEAK, WORDS, Context

__all__ = [
    "MIN_SCORE",
    "Code",
    "CodeExtractor",
    "CodeKind",
    "codes_json",
    "extract_codes",
    "parse_origin_bound",
    "template_of",
]

CodeKind = Literal["origin_bound", "keyword", "prefixed", "standalone"]

#: Candidates scoring less are not reported.
MIN_SCORE = 0.15


@dataclass(frozen=True, slots=True)
class Code:
    """One code found in a message; the domains are set for the origin-bound format only."""

    value: str
    score: float
    kind: CodeKind
    domain: str | None = None
    embedded_domain: str | None = None

    def as_dict(self) -> dict[str, str | float | None]:
        """The code as JSON-ready data (an item of a message's ``codes`` field)."""
        return {
            "value": self.value,
            "score": round(self.score, 3),
            "kind": self.kind,
            "domain": self.domain,
            "embedded_domain": self.embedded_domain,
        }


#: One encoder for every message: ``json.dumps`` with options builds a new one per call.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def codes_json(codes: Iterable[Code]) -> str:
    """A message's ``codes`` field as JSON text: the compact encoding of each code's
    :meth:`~Code.as_dict`, in order.

    Written by hand for the codes found in nearly every message (ASCII letters and
    digits, no domain), which need no escaping: the JSON encoder cost more than finding
    the code in a text of a known template (``bench/ingest.py``). Anything else goes
    through the encoder. The property test holds the two to the same text.
    """
    parts = []
    for code in codes:
        value = code.value
        if (
            code.domain is None
            and code.embedded_domain is None
            and value.isascii()
            and value.isalnum()
        ):
            parts.append(
                f'{{"value":"{value}","score":{round(code.score, 3)!r},"kind":"{code.kind}",'
                '"domain":null,"embedded_domain":null}'
            )
        else:
            parts.append(_JSON.encode(code.as_dict()))
    return "[" + ",".join(parts) + "]"


# --------------------------------------------------------------------------- origin-bound

# "Extract a marked token": a sigil, then code points that are not ASCII whitespace.
_ORIGIN_BOUND_LINE = re.compile(r"@([^\t\n\f\r ]+) #([^\t\n\f\r ]+)(?: [@%]([^\t\n\f\r ]+))?")


def parse_origin_bound(text: str) -> Code | None:
    """The code of an origin-bound last line (``@host #code``), or None."""
    stripped = text.rstrip("\t\n\f\r ")
    line = stripped[max(stripped.rfind("\n"), stripped.rfind("\r")) + 1 :]
    if not line.startswith("@"):
        return None
    match = _ORIGIN_BOUND_LINE.match(line)
    if match is None:
        return None
    embedded = match[3]
    return Code(
        value=match[2],
        score=1.0,
        kind="origin_bound",
        domain=match[1].lower(),
        embedded_domain=embedded.lower() if embedded else None,
    )


# --------------------------------------------------------------------------- tokens

# Without three digits in a row or a capital letter next to a digit there is no candidate.
_PRECHECK = re.compile(r"\d\d\d|[A-Z]\d|\d[A-Z]")
_MIXED = re.compile(r"[A-Z]\d|\d[A-Z]")
_DIGIT_TOKEN = re.compile(r"\d+(?:[- ./:,]\d+)*")
_UPPER_TOKEN = re.compile(r"[0-9A-Z]{4,}")
_SEPARATOR = re.compile(r"[- ./:,]")
_ASCII_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_BASE_BY_LENGTH = {4: 0.22, 5: 0.24, 6: 0.30, 7: 0.21, 8: 0.23}
_SPLIT_BASE = 0.34
_SPLIT_SHAPES = frozenset({(3, 3), (4, 4)})
_ALPHANUMERIC_BASE = 0.12
# Numbers shorter than this neither are codes nor block context words ("valid 10 min").
_MIN_BLOCKING_DIGITS = 4


class _Token(NamedTuple):
    start: int
    end: int
    value: str  # "" for a number that is never a code but still blocks context words
    base: float = 0.0
    alphanumeric: bool = False


def _ascii_digits(digits: str) -> str:
    if digits.isascii():
        return digits
    return "".join(str(unicodedata.decimal(char)) for char in digits)


def _plain_token(text: str, start: int, end: int) -> _Token | None:
    """A run of digits alone: a code of 4 to 8 digits unless glued to a word or a '+'."""
    digits = end - start
    before = text[start - 1] if start else ""
    glued = before in _ASCII_ALNUM or before == "+" or text[end : end + 1] in _ASCII_ALNUM
    if glued or not 4 <= digits <= 8:
        return _Token(start, end, "") if digits >= _MIN_BLOCKING_DIGITS else None
    return _Token(start, end, _ascii_digits(text[start:end]), _BASE_BY_LENGTH[digits])


def _phone_like(text: str, start: int, groups: list[str]) -> bool:
    if start and text[start - 1] in "+(":
        return True
    total = sum(len(group) for group in groups)
    if len(groups) >= 3 and 7 <= total <= 15:
        return True
    return groups[0].startswith("0") and 9 <= total <= 15


def _grouped_tokens(text: str, start: int, end: int) -> list[_Token]:
    """Digit groups joined by separators: a split code, two numbers, or no code at all."""
    raw = text[start:end]
    separators = set(_SEPARATOR.findall(raw))
    groups = _SEPARATOR.split(raw)
    if len(separators) == 1 and separators <= {" ", "-"} and not _phone_like(text, start, groups):
        glued = (start and text[start - 1] in _ASCII_ALNUM) or text[end : end + 1] in _ASCII_ALNUM
        if tuple(map(len, groups)) in _SPLIT_SHAPES and not glued:
            return [_Token(start, end, _ascii_digits("".join(groups)), _SPLIT_BASE)]
        if separators == {" "} and len(groups) == 2:
            # "482913 2 attempts left": two numbers that happen to follow each other.
            middle = start + len(groups[0])
            pair = (_plain_token(text, start, middle), _plain_token(text, middle + 1, end))
            return [token for token in pair if token is not None]
    # Dates, times, decimals, prices, phone, card and account numbers.
    digits = sum(len(group) for group in groups)
    return [_Token(start, end, "")] if digits >= _MIN_BLOCKING_DIGITS else []


def _tokens(text: str) -> list[_Token]:
    """The numbers and uppercase alphanumeric words of ``text``, in order."""
    tokens: list[_Token] = []
    for match in _DIGIT_TOKEN.finditer(text):
        start, end = match.span()
        if end - start < 3:
            continue
        if match.group().isdigit():
            token = _plain_token(text, start, end)
            if token is not None:
                tokens.append(token)
        else:
            tokens.extend(_grouped_tokens(text, start, end))
    if _MIXED.search(text) is None:
        return tokens
    for match in _UPPER_TOKEN.finditer(text):
        start, end = match.span()
        value = match.group()
        if len(value) > 8 or value.isdigit() or value.isalpha():
            continue
        before, after = text[start - 1 : start], text[end : end + 1]
        if before in _ASCII_ALNUM or after in _ASCII_ALNUM or "-" in (before, after):
            continue
        tokens.append(_Token(start, end, value, _ALPHANUMERIC_BASE, alphanumeric=True))
    return sorted(tokens)


# --------------------------------------------------------------------------- scoring

_SENTENCE_BREAK = re.compile(r"[.!?](?=\s)|[。！？]")
_DATE_BEFORE = re.compile(
    r"(?:\b\d{1,2}(?:st|nd|rd|th)?,?|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"[a-z]*\.?,?)\s$",
    re.IGNORECASE,
)
_CURRENCY_SYMBOLS = frozenset("$€£¥₹₽₴₺₩₫₦₱฿")
_CURRENCY_CODES = frozenset(
    ("usd", "eur", "gbp", "rub", "uah", "pln", "try", "inr", "rs", "rs.", "idr", "rp", "rp.",
     "vnd", "brl", "r$", "mxn", "aed", "sar", "egp", "jpy", "cny", "rmb", "krw", "chf", "cad",
     "aud", "nzd", "zar", "ngn", "php", "thb", "myr", "rm")
)  # fmt: skip
_UNITS_AFTER = frozenset(
    ("usd", "eur", "gbp", "rub", "uah", "pln", "try", "inr", "idr", "vnd", "brl", "mxn", "aed",
     "sar", "jpy", "cny", "krw", "chf", "руб", "грн", "тг", "zł", "zl", "tl", "đ", "dollar",
     "dollars", "euro", "euros", "reais", "pesos", "rupee", "rupees", "rupiah", "dong",
     "point", "points", "pts", "puntos", "pontos", "punkte", "баллов", "бонусов", "km", "kg",
     "mb", "gb", "miles", "steps", "г.", "год", "года", "yılı")
)  # fmt: skip
# Glued after a number: a currency, a percentage, a year (2026年).
_UNIT_CHARS_AFTER = frozenset("$€£¥₹₽₴₺₩₫₦₱฿%元円원块年")
_URL_BEFORE = frozenset("/=@_&?\\")
_MASK_BEFORE = frozenset("*•")
_STRONG_BEFORE, _STRONG_AFTER = 0.55, 0.45
_WEAK_BEFORE, _WEAK_AFTER = 0.33, 0.28
_REACH_BEFORE, _REACH_AFTER = 48, 40
_ACROSS_SENTENCE = 0.3
_ALPHANUMERIC_REACH = 16
_DECOY_REACH, _DECOY_AFTER_REACH = 24, 12
_DECOY_PENALTY = 0.6
_PREFIXED_BONUS = 0.25


def _is_money_or_unit(text: str, start: int, end: int) -> bool:
    """True for "$1299", "R$ 1299", "1299 RUB", "1299€", "25 %", "1234 points"."""
    window = text[max(0, start - 8) : start].rstrip()
    if window:
        if window[-1] in _CURRENCY_SYMBOLS:
            return True
        words = window.split()
        # A word cut by the window ("…ndr") is not a currency code.
        if (len(words) > 1 or len(window) < 8) and words[-1].lower() in _CURRENCY_CODES:
            return True
    after = text[end : end + 1]
    if after in _UNIT_CHARS_AFTER:
        return True
    if after == " ":
        following = text[end + 1 : end + 12].split(None, 1)
        if following and (
            following[0][0] in _UNIT_CHARS_AFTER
            or following[0].lower().rstrip(".,;:!?)") in _UNITS_AFTER
            or following[0].lower() in _UNITS_AFTER
        ):
            return True
    return False


def _penalty(text: str, token: _Token) -> float:
    start, end = token.start, token.end
    if _is_money_or_unit(text, start, end):
        return 1.0
    before = text[start - 1] if start else ""
    after = text[end : end + 1]
    penalty = 0.0
    if before in _URL_BEFORE or after == "@" or after == "/":
        penalty += 0.5  # in a link or an address
    elif before in _MASK_BEFORE:
        penalty += _DECOY_PENALTY  # a masked card or phone number: "*4417", "••4417"
    elif before == "#":
        penalty += 0.1  # "#12345" is more often an order than a code
    if after == "." and text[end + 1 : end + 2] in _ASCII_ALNUM:
        penalty += 0.5  # a host name: "app1234.example"
    if end - start == 4 and token.value.isdigit() and 1900 <= int(token.value) <= 2099:
        # A year: certainly one after a day or a month ("Dec 12, 2026"), perhaps otherwise.
        penalty += 1.0 if _DATE_BEFORE.search(text, max(0, start - 12), start) else 0.2
    return penalty


def _bonus_before(text: str, start: int, gap: int | None, weight: float) -> float:
    if gap is None or gap >= _REACH_BEFORE:
        return 0.0
    bonus = weight * (1.0 - gap / _REACH_BEFORE)
    if gap > 1 and _SENTENCE_BREAK.search(text, start - gap, start):
        bonus *= _ACROSS_SENTENCE  # "Never share this code. Call 0800 ..."
    return bonus


def _bonus_after(text: str, end: int, gap: int | None, weight: float) -> float:
    if gap is None or gap >= _REACH_AFTER:
        return 0.0
    if gap > 1 and _SENTENCE_BREAK.search(text, end, end + gap):
        return 0.0  # "... on Dec 12, 2026. Check-in code: 7306": that code is another one
    return weight * (1.0 - gap / _REACH_AFTER)


def _is_prefixed(text: str, start: int) -> bool:
    """``G-123456``: one to three capital letters and a hyphen glued to the digits."""
    if text[start - 1 : start] != "-":
        return False
    position = start - 2
    while position >= 0 and "A" <= text[position] <= "Z":
        position -= 1
    letters = start - 2 - position
    return 1 <= letters <= 3 and (position < 0 or text[position] not in _ASCII_ALNUM)


def _score(text: str, token: _Token, context: Context, low: int, high: int) -> Code | None:
    """The candidate as a code, or None for a decoy.

    ``low`` and ``high`` are where the neighbouring tokens end and start: context words
    beyond them label those tokens, not this one.
    """
    start, end = token.start, token.end
    strong_before = context.gap_before(STRONG, start, low)
    weak_before = context.gap_before(WEAK, start, low)
    strong_after = context.gap_after(STRONG, end, high)
    weak_after = context.gap_after(WEAK, end, high)
    score = token.base - _penalty(text, token)

    # The closest label wins; a word after the number labels it less surely than one before.
    befores = [gap for gap in (strong_before, weak_before) if gap is not None]
    afters = [int(gap * 1.5) + 1 for gap in (strong_after, weak_after) if gap is not None]
    nearest_keyword = min(befores + afters, default=_DECOY_REACH + 1)
    decoys = [context.gap_before(DECOY, start, low), context.gap_before(LABEL, start, low)]
    if not befores:
        after = context.gap_after(DECOY, end, high)  # Turkish: "48213 numbered order"
        decoys.append(after if after is not None and after <= _DECOY_AFTER_REACH else None)
    nearest_decoy = min((gap for gap in decoys if gap is not None), default=_DECOY_REACH + 1)
    if nearest_decoy <= _DECOY_REACH and nearest_decoy < nearest_keyword:
        return None

    if token.alphanumeric:
        # An uppercase word with a digit is a code only right next to a code word.
        near = [gap for gap in (strong_before, strong_after) if gap is not None]
        if not near or min(near) > _ALPHANUMERIC_REACH:
            return None
    bonus = max(
        _bonus_before(text, start, strong_before, _STRONG_BEFORE),
        _bonus_before(text, start, weak_before, _WEAK_BEFORE),
        _bonus_after(text, end, strong_after, _STRONG_AFTER),
        _bonus_after(text, end, weak_after, _WEAK_AFTER),
    )
    kind: CodeKind = "keyword" if bonus >= 0.1 else "standalone"
    if not token.alphanumeric and _is_prefixed(text, start):
        score += _PREFIXED_BONUS
        if kind == "standalone":
            kind = "prefixed"
    # Under 1.0, which only the origin-bound format earns; rounded for stable JSON.
    return Code(token.value, round(min(score + bonus, 0.99), 3), kind)


# --------------------------------------------------------------------------- entry point


def extract_codes(text: str) -> tuple[Code, ...]:
    """The codes in ``text``, best first, one per value; empty when there is none."""
    return _ranked(text, parse_origin_bound(text), _candidates(text))


class _Candidate(NamedTuple):
    """A scored token, by position: its value is read from the text it was found in."""

    start: int
    end: int
    alphanumeric: bool
    score: float
    kind: CodeKind


def _candidates(text: str) -> list[_Candidate]:
    """The tokens of ``text`` that score as codes, in text order (before ranking)."""
    if _PRECHECK.search(text) is None:
        return []
    tokens = _tokens(text)
    if not any(token.value for token in tokens):
        return []
    context = Context(text)
    found = []
    last = len(tokens) - 1
    for index, token in enumerate(tokens):
        if not token.value:
            continue
        low = tokens[index - 1].end if index > 0 else -1
        high = tokens[index + 1].start if index < last else len(text) + 1
        code = _score(text, token, context, low, high)
        if code is not None and code.score >= MIN_SCORE:
            found.append(
                _Candidate(token.start, token.end, token.alphanumeric, code.score, code.kind)
            )
    return found


_NOT_DIGIT = re.compile(r"\D")


def _ranked(text: str, origin_bound: Code | None, found: list[_Candidate]) -> tuple[Code, ...]:
    """Best first, one per value (the origin-bound code first of all)."""
    if not found:
        return (origin_bound,) if origin_bound is not None else ()
    ranked: dict[str, tuple[float, int, Code]] = {}
    if origin_bound is not None:
        ranked[origin_bound.value] = (-1.0, -1, origin_bound)
    for start, end, alphanumeric, score, kind in found:
        value = text[start:end]
        if not alphanumeric:
            # What _plain_token and _grouped_tokens made of it: the digits, in ASCII.
            value = _ascii_digits(value if value.isdigit() else _NOT_DIGIT.sub("", value))
        previous = ranked.get(value)
        if previous is None or -previous[0] < score:
            ranked[value] = (-score, start, Code(value, score, kind))
    return tuple(entry[2] for entry in sorted(ranked.values(), key=lambda entry: entry[:2]))


# --------------------------------------------------------------------------- templates

#: ASCII digits to "1"; a zero that starts a number is put back (phone numbers start with
#: one: _phone_like), any other zero reads as any other digit.
_TEMPLATE = str.maketrans("0123456789", "1111111111")
_LEADING_ZERO = re.compile(r"(?<!\d)0")
#: 4-digit runs: the year test reads their value, so a text with one in 1900-2099 is not
#: a template's.
_FOUR_DIGITS = re.compile(r"(?<!\d)\d{4}(?!\d)")
#: Context words holding a digit ("2fa"), as they read in a template.
_TEMPLATE_DIGIT_WORDS = tuple(
    word.translate(_TEMPLATE) for word in WORDS if any(char.isdigit() for char in word)
)


def template_of(text: str) -> str | None:
    """``text`` with its ASCII digits masked, when the codes found in ``text`` depend on
    its digits only through their positions; None otherwise.

    Services send the same text with a new code each time ("Your code is 482913"): such
    texts share a template, and so the positions and scores of their candidates. What
    else reads a digit's value is kept out: a zero starting a number (phone numbers)
    survives the mask, a possible year (1900-2099) or a context word with a digit ("2fa") makes the
    text its own.
    """
    template = text.translate(_TEMPLATE)
    if "0" in text:
        zeros = [match.start() for match in _LEADING_ZERO.finditer(text)]
        if zeros:
            chars = list(template)
            for position in zeros:
                chars[position] = "0"
            template = "".join(chars)
    for match in _FOUR_DIGITS.finditer(text):
        if 1900 <= int(_ascii_digits(match.group())) <= 2099:
            return None
    if _TEMPLATE_DIGIT_WORDS:
        lowered = template.lower()
        if any(word in lowered for word in _TEMPLATE_DIGIT_WORDS):
            return None
    return template


class CodeExtractor:
    """:func:`extract_codes` with a memo of templates (:func:`template_of`): same answers.

    The scoring of a template is done once; each message of it pays for the mask, a
    dictionary look-up and building its codes (a few µs instead of tens). The memo keeps
    the ``max_templates`` most recently added templates; one per sink, not shared
    between threads.
    """

    def __init__(self, max_templates: int = 4096) -> None:
        self.max_templates = max_templates
        self._seen: dict[str, list[_Candidate]] = {}
        self.hits = 0
        self.misses = 0

    def __call__(self, text: str) -> tuple[Code, ...]:
        template = template_of(text)
        if template is None:
            return extract_codes(text)
        found = self._seen.get(template)
        if found is None:
            self.misses += 1
            found = _candidates(text)
            if len(self._seen) >= self.max_templates:
                del self._seen[next(iter(self._seen))]  # the oldest template
            self._seen[template] = found
        else:
            self.hits += 1
        return _ranked(text, parse_origin_bound(text), found)
