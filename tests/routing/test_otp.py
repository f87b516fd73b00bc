"""OTP extraction: the message corpus, the origin-bound format, decoys, and properties."""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.routing.otp import (
    MIN_SCORE,
    Code,
    codes_json,
    extract_codes,
    parse_origin_bound,
)
from smslocker.routing.otp_words import trie_alternation

CORPUS_PATH = Path(__file__).parent / "otp_corpus.toml"


def load_corpus() -> list[dict[str, Any]]:
    with CORPUS_PATH.open("rb") as file:
        messages: list[dict[str, Any]] = tomllib.load(file)["message"]
    return messages


CORPUS = load_corpus()


def values(text: str) -> list[str]:
    return [code.value for code in extract_codes(text)]


# --------------------------------------------------------------------------- the corpus


def test_corpus_is_large_and_varied() -> None:
    names = [message["name"] for message in CORPUS]
    assert len(names) == len(set(names)), "message names must be unique"
    assert len(CORPUS) >= 60
    languages = {name.split("-", 1)[0] for name in names}
    assert {"en", "es", "pt", "fr", "de", "it", "ru", "uk", "pl", "tr", "id", "vi"} <= languages
    assert {"zh", "ja", "ko", "ar", "hi"} <= languages
    assert sum(1 for message in CORPUS if "code" not in message) >= 15
    assert sum(1 for message in CORPUS if message.get("kind") == "origin_bound") >= 4


@pytest.mark.parametrize("message", CORPUS, ids=[message["name"] for message in CORPUS])
def test_corpus_message(message: dict[str, Any]) -> None:
    codes = extract_codes(message["text"])
    best = codes[0].value if codes else None
    assert best == message.get("code"), [code.as_dict() for code in codes]
    if "codes" in message:
        assert [code.value for code in codes] == message["codes"]
    if "kind" in message:
        assert codes[0].kind == message["kind"]


# --------------------------------------------------------------------------- origin-bound


def test_origin_bound_spec_example() -> None:
    text = "747723 is your ExampleCo authentication code.\n\n@example.com #747723"
    code = parse_origin_bound(text)
    assert code == Code("747723", 1.0, "origin_bound", domain="example.com")


@pytest.mark.parametrize("sigil", ["@", "%"])
def test_origin_bound_embedded_host(sigil: str) -> None:
    code = parse_origin_bound(f"Your code.\n@example.com #747723 {sigil}ecommerce.example")
    assert code is not None
    assert (code.value, code.domain, code.embedded_domain) == (
        "747723",
        "example.com",
        "ecommerce.example",
    )


def test_origin_bound_trailing_text_is_ignored() -> None:
    code = parse_origin_bound("@example.com #747723 %ecommerce.example $future")
    assert code is not None
    assert code.embedded_domain == "ecommerce.example"
    unknown_field = parse_origin_bound("@example.com #747723 $future")
    assert unknown_field is not None
    assert (unknown_field.value, unknown_field.embedded_domain) == ("747723", None)


@pytest.mark.parametrize(
    "text",
    [
        "something @example.com #747723",  # does not start with the host
        "#747723 %ecommerce.example @example.com",  # wrong order
        "@example.com code #747723",  # something between the fields
        "@example.com  #747723",  # two spaces
        "@example.com #747723\nThanks!",  # not the last line
        "@ #747723",
        "@example.com #",
        "@example.com",
        "",
    ],
)
def test_not_origin_bound(text: str) -> None:
    assert parse_origin_bound(text) is None


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_origin_bound_line_breaks_and_trailing_whitespace(newline: str) -> None:
    text = f"Your code is 123456.{newline}{newline}@Example.COM #123456{newline}"
    code = parse_origin_bound(text)
    assert code is not None
    assert (code.value, code.domain) == ("123456", "example.com")


def test_origin_bound_code_wins_over_other_numbers() -> None:
    codes = extract_codes("Code 111111 expired. Your new code is 222222.\n@example.com #333333")
    assert codes[0] == Code("333333", 1.0, "origin_bound", domain="example.com")
    assert {code.value for code in codes} == {"333333", "222222", "111111"}


@pytest.mark.parametrize(
    "text",
    [
        "Your old code 111111 has expired. Your new code is 222222.",
        "Your new PIN is 222222. Your previous PIN 111111 no longer works.",
        "Tu código anterior 111111 ya no es válido. Tu nuevo código es 222222.",
        "Ваш старый код 111111 больше не действует. Новый код: 222222",
    ],
)
def test_an_old_code_is_not_the_best(text: str) -> None:
    assert values(text) == ["222222"]


def test_origin_bound_value_is_not_listed_twice() -> None:
    assert values("747723 is your code.\n\n@example.com #747723") == ["747723"]


def test_same_fields_not_on_their_own_line_are_a_keyword_code() -> None:
    codes = extract_codes("Sign in with code 654321 at @example.com #654321 today")
    assert codes[0].value == "654321"
    assert codes[0].kind == "keyword"
    assert codes[0].domain is None


# --------------------------------------------------------------------------- shapes and decoys


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Your code is 123-456", "123456"),
        ("Your code is 123 456", "123456"),
        ("Your code is 1234-5678", "12345678"),
        ("Your code is 1234 5678", "12345678"),
        ("G-482913 is your Google verification code.", "482913"),
        ("Your code is AB12CD", "AB12CD"),
        ("Your code is 482913 2 attempts left", "482913"),
        ("رمز التحقق: ٤٨٢٩١٣", "482913"),  # Arabic-Indic digits
        ("認証コード：４８２９１３", "482913"),  # full-width digits
        ("Your code is 0042", "0042"),
        ("Your code is 2026", "2026"),  # a year-like code right after a code word
    ],
)
def test_code_shapes(text: str, value: str) -> None:
    assert values(text)[0] == value


@pytest.mark.parametrize(
    "text",
    [
        "Total $1299 due",
        "Total: 1.299,00 €",
        "Paid 1299 EUR",
        "Paid USD 1299",
        "Save 2500 points",
        "See you on 2026-12-01",
        "See you on 12/01 at 10:45",
        "See you on 01.12.2026",
        "Call +1 415 555 0100",
        "Call 0800 123 4567",
        "Call us at 4821",
        "Card 4111 1111 1111 1111 charged",
        "Card ending 4417 charged",
        "Card *4417 charged",
        "Order 48213 has shipped",
        "Happy New Year 2026!",
        "Born on Dec 12, 1987",
        "Use promo code SAVE2026 for 20% off",
        "Open https://example.com/v/482913 to continue",
        "Your ride: Toyota Camry 7ABC123",
        "No digits at all here.",
        "",
    ],
)
def test_decoys_alone_are_not_codes(text: str) -> None:
    assert extract_codes(text) == ()


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Pay $1299 with code 482913", "482913"),
        ("Your code 4821 expires on 2026-12-01 at 10:45", "4821"),
        ("Call +1 415 555 0100 if you did not request code 482913", "482913"),
        ("Your verification code for order 55120 is 903412.", "903412"),
        ("Order 55120: your verification code is 903412.", "903412"),
        ("Card ending 4417: your one-time code is 739201", "739201"),
        ("Your code is 482913. Questions? Call 0800 1234.", "482913"),
    ],
)
def test_decoys_do_not_beat_the_code(text: str, value: str) -> None:
    assert values(text)[0] == value


def test_code_as_dict() -> None:
    code = extract_codes("Your code.\n@example.com #747723 @ecommerce.example")[0]
    assert code.as_dict() == {
        "value": "747723",
        "score": 1.0,
        "kind": "origin_bound",
        "domain": "example.com",
        "embedded_domain": "ecommerce.example",
    }
    keyword = extract_codes("Your code is 4821")[0].as_dict()
    assert keyword["kind"] == "keyword"
    assert keyword["domain"] is None
    assert isinstance(keyword["score"], float)


def test_trie_alternation_matches_exactly_its_words() -> None:
    import re

    pattern = re.compile(trie_alternation(["code", "codes", "código", "kod", "验证码"]))
    assert [m.group() for m in pattern.finditer("codes code códigoX kod 验证码")] == [
        "codes",
        "code",
        "código",
        "kod",
        "验证码",
    ]
    assert re.search(trie_alternation([]), "anything") is None


@pytest.mark.parametrize(
    "text",
    [
        "1 " * 20_000,
        "1-" * 20_000,
        "AB12 " * 8_000,
        "code 123456 " * 3_000,
        "验证码123456，" * 3_000,
        "Order 48213 " * 3_000,
        "İ" * 20_000,
    ],
    ids=["spaced-digits", "hyphened-digits", "alphanumeric", "codes", "chinese", "orders", "I"],
)
def test_time_is_linear_in_the_longest_message(text: str) -> None:
    # 255 segments of 153 characters is the longest concatenated SMS; quadratic work on
    # such a text would take minutes. The bound is loose for slow shared CI machines.
    started = time.perf_counter()
    extract_codes(text)
    assert time.perf_counter() - started < 2.0


# --------------------------------------------------------------------------- properties


def check_invariants(codes: tuple[Code, ...]) -> None:
    assert len({code.value for code in codes}) == len(codes)
    scores = [code.score for code in codes]
    assert scores == sorted(scores, reverse=True)
    for code in codes:
        assert code.value
        assert MIN_SCORE <= code.score <= 1.0
        assert (code.kind == "origin_bound") == (code.domain is not None)
        if code.kind != "origin_bound":
            assert code.value.isascii()
            assert code.value.isalnum()


@given(st.text())
def test_never_raises_and_results_are_ranked_and_unique(text: str) -> None:
    check_invariants(extract_codes(text))


SMS_ALPHABET = st.sampled_from(
    list("0123456789 -.,:/+#@%*$€\n") + list("abcXYZ验证码кодرمز") + ["code", "order", "G-"]
)


@given(st.lists(SMS_ALPHABET, max_size=60).map("".join))
def test_never_raises_on_sms_like_text(text: str) -> None:
    check_invariants(extract_codes(text))


TEMPLATES = [
    "Your verification code is {code}. Don't share it with anyone.",
    "{code} is your {brand} code. Don't share it.",
    "{brand}: your one-time password is {code}",
    "Tu código de verificación es {code}.",
    "Seu código de acesso é {code}",
    "Votre code de vérification : {code}",
    "Ihr Bestätigungscode lautet {code}.",
    "Il tuo codice di verifica è {code}",
    "Ваш код подтверждения: {code}. Никому не сообщайте.",
    "Ваш код підтвердження: {code}",
    "Twój kod weryfikacyjny to {code}",
    "Doğrulama kodunuz: {code}",
    "Kode verifikasi {brand} kamu: {code}",
    "Mã OTP của bạn là {code}",
    "【{brand}】验证码：{code}，5分钟内有效。",
    "認証コード：{code}",
    "[{brand}] 인증번호 [{code}]를 입력해주세요.",
    "رمز التحقق الخاص بك هو {code}",
    "आपका OTP {code} है।",
]
NEUTRAL_WORDS = ["Hello", "Welcome", "Thanks", "Acme", "today", "please", "app", "soon", "ok"]


@given(
    template=st.sampled_from(TEMPLATES),
    code=st.from_regex(r"[0-9]{4,8}", fullmatch=True),
    brand=st.sampled_from(["Acme", "Example", "Zeta"]),
    before=st.lists(st.sampled_from(NEUTRAL_WORDS), max_size=6).map(" ".join),
    after=st.lists(st.sampled_from(NEUTRAL_WORDS), max_size=6).map(" ".join),
)
def test_code_in_a_template_is_found_first(
    template: str, code: str, brand: str, before: str, after: str
) -> None:
    text = f"{before}\n{template.format(code=code, brand=brand)}\n{after}"
    codes = extract_codes(text)
    check_invariants(codes)
    assert codes[0].value == code
    assert codes[0].kind == "keyword"


@given(
    template=st.sampled_from(TEMPLATES),
    first=st.from_regex(r"[0-9]{3}", fullmatch=True),
    second=st.from_regex(r"[0-9]{3}", fullmatch=True),
    separator=st.sampled_from(["-", " "]),
)
def test_split_code_in_a_template_is_joined(
    template: str, first: str, second: str, separator: str
) -> None:
    codes = extract_codes(template.format(code=f"{first}{separator}{second}", brand="Acme"))
    assert codes[0].value == first + second


@given(
    explanation=st.text(max_size=80),
    host=st.from_regex(r"[a-z0-9-]{1,20}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    code=st.text(
        alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\t\n\f\r "),
        min_size=1,
        max_size=12,
    ),
)
def test_origin_bound_round_trip(explanation: str, host: str, code: str) -> None:
    text = f"{explanation}\n\n@{host} #{code}"
    parsed = parse_origin_bound(text)
    assert parsed == Code(code, 1.0, "origin_bound", domain=host)
    assert extract_codes(text)[0] == parsed


_KINDS = st.sampled_from(["origin_bound", "keyword", "prefixed", "standalone"])
_CODES = st.builds(
    Code,
    value=st.one_of(
        st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10),
        st.text(min_size=1, max_size=12),  # quotes, backslashes, non-ASCII digits, ...
    ),
    score=st.floats(min_value=0, max_value=2, allow_nan=False),
    kind=_KINDS,
    domain=st.none() | st.text(max_size=20),
    embedded_domain=st.none() | st.text(max_size=20),
)


@given(st.lists(_CODES, max_size=4))
def test_codes_json_is_the_encoders_text(codes: list[Code]) -> None:
    expected = json.dumps(
        [code.as_dict() for code in codes], separators=(",", ":"), ensure_ascii=False
    )
    assert codes_json(codes) == expected


def test_codes_json_of_the_codes_found_in_a_message() -> None:
    codes = extract_codes("Your code is 482913. @example.com #482913")
    assert json.loads(codes_json(codes)) == [code.as_dict() for code in codes]
