"""Service guessing: sender ids, short codes, origin-bound domains, brands in the text."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smslocker.routing.otp import Code, extract_codes
from smslocker.routing.senders import SenderDirectory, guess_service

CORPUS_PATH = Path(__file__).parent / "otp_corpus.toml"
with CORPUS_PATH.open("rb") as corpus_file:
    CORPUS: list[dict[str, Any]] = tomllib.load(corpus_file)["message"]

DIRECTORY = SenderDirectory()


@pytest.mark.parametrize("message", CORPUS, ids=[message["name"] for message in CORPUS])
def test_corpus_service(message: dict[str, Any]) -> None:
    codes = extract_codes(message["text"])
    assert guess_service(message["sender"], message["text"], codes) == message.get("service")


def test_corpus_covers_every_way_of_guessing() -> None:
    guessed_by_sender = guessed_otherwise = 0
    for message in CORPUS:
        if "service" in message:
            if DIRECTORY.service_for_sender(message["sender"]) is not None:
                guessed_by_sender += 1
            else:
                guessed_otherwise += 1
    assert guessed_by_sender >= 20
    assert guessed_otherwise >= 10


# --------------------------------------------------------------------------- senders


@pytest.mark.parametrize(
    ("source", "service"),
    [
        ("Google", "google"),
        ("GOOGLE", "google"),
        (" google ", "google"),
        ("Google-Verify", "google"),
        ("GoogleVerify", "google"),
        ("WhatsApp", "whatsapp"),
        ("WHATSAPP", "whatsapp"),
        ("Whats App", "whatsapp"),
        ("FBOTP", "facebook"),
        ("AX-AMAZON", "amazon"),
        ("VM-AMAZON-S", "amazon"),
        ("JD-PAYTMB", "paytm"),
        ("32665", "facebook"),
        ("40404", "twitter"),
        ("X", "twitter"),
        ("Telegram", "telegram"),
        ("MSVerify", "microsoft"),
        ("AppleID", "apple"),
        ("Uber Eats", "uber"),
        ("淘宝网", "taobao"),
        ("Kaspi.kz", "kaspi"),
    ],
)
def test_service_for_sender(source: str, service: str) -> None:
    assert DIRECTORY.service_for_sender(source) == service


@pytest.mark.parametrize(
    "source", ["+14155550100", "Verify", "INFO", "SMS", "Acme", "12345", "", "   ", "-"]
)
def test_unknown_senders(source: str) -> None:
    assert DIRECTORY.service_for_sender(source) is None


@pytest.mark.parametrize(
    ("domain", "service"),
    [
        ("google.com", "google"),
        ("accounts.google.com", "google"),
        ("Accounts.Google.COM.", "google"),
        ("@apple.com", "apple"),
        ("https://x.com/i/flow", "twitter"),
        ("t.me", "telegram"),
        ("amazon.co.uk", "amazon"),
        ("www.amazon.de", "amazon"),
        ("mercadolivre.com.br", "mercadolibre"),
        ("login.live.com", "microsoft"),
    ],
)
def test_service_for_domain(domain: str, service: str) -> None:
    assert DIRECTORY.service_for_domain(domain) == service


@pytest.mark.parametrize("domain", ["example.com", "bank.example", "google", "", "co.uk"])
def test_unknown_domains(domain: str) -> None:
    assert DIRECTORY.service_for_domain(domain) is None


# --------------------------------------------------------------------------- brands in text


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("Your WhatsApp code 123-456", "whatsapp"),
        ("Use 7391 as Microsoft account security code", "microsoft"),
        ("【京东】验证码：482913", "jd"),
        ("인증번호는 739104입니다. 네이버에서", "naver"),
        ("Код для входа в Telegram: 71024", "telegram"),
        ("Mercado Pago: tu código es 6284", "mercadolibre"),
        ("Your Instagram code. Not from Facebook.", "instagram"),
        ("Your code, not from Facebook. 【淘宝网】", "facebook"),
        ("Your Ubers are here", None),
        ("Use Uber's app: 4821", "uber"),
        ("Your code is 482913", None),
        ("", None),
    ],
)
def test_service_in_text(text: str, service: str | None) -> None:
    assert DIRECTORY.service_in_text(text) == service


def test_signature_is_looked_up_as_a_sender() -> None:
    directory = SenderDirectory({"顺丰速运": "sf-express"})
    text = "【顺丰速运】您的验证码是 482913"
    assert directory.guess_service("1069000000", text) == "sf-express"


# --------------------------------------------------------------------------- guessing order


def test_sender_comes_before_domain_and_text() -> None:
    text = "Your Facebook code is 123456.\n\n@accounts.google.com #123456"
    codes = extract_codes(text)
    assert guess_service("Telegram", text, codes) == "telegram"
    assert guess_service("+14155550100", text, codes) == "google"
    assert guess_service("+14155550100", text) == "facebook"


def test_unknown_origin_bound_domain_falls_through_to_the_text() -> None:
    code = Code("123456", 1.0, "origin_bound", domain="shop.example")
    assert guess_service("+14155550100", "Your Amazon code", [code]) == "amazon"


# --------------------------------------------------------------------------- operator tables


def test_operator_entries_win_over_defaults() -> None:
    directory = SenderDirectory({"Google": "google-workspace", "22395": "acme"})
    assert directory.service_for_sender("GOOGLE") == "google-workspace"
    assert directory.service_for_sender("22395") == "acme"
    assert directory.service_for_sender("WhatsApp") == "whatsapp"
    assert DIRECTORY.service_for_sender("Google") == "google"  # other directories unchanged


def test_extend_adds_senders_domains_and_brands() -> None:
    directory = SenderDirectory()
    directory.extend(
        {"ACME-BANK": "acmebank", "login.acme.example": "acmebank", "32665": "meta"},
        brands={"AcmeBank": "acmebank", "ЭкмеБанк": "acmebank"},
    )
    assert directory.service_for_sender("Acme Bank") == "acmebank"
    assert directory.service_for_sender("32665") == "meta"
    assert directory.service_for_domain("www.login.acme.example") == "acmebank"
    assert directory.service_in_text("Your AcmeBank code is 4821") == "acmebank"
    assert directory.service_in_text("Код ЭкмеБанк: 4821") == "acmebank"
    assert directory.service_in_text("Your WhatsApp code") == "whatsapp"


def test_later_entries_win() -> None:
    directory = SenderDirectory({"Acme": "first"})
    directory.extend({"ACME": "second"})
    assert directory.service_for_sender("acme") == "second"


def test_without_defaults() -> None:
    directory = SenderDirectory({"Acme": "acme"}, defaults=False)
    assert directory.service_for_sender("Google") is None
    assert directory.service_for_domain("google.com") is None
    assert directory.service_in_text("Your Google code") is None
    assert directory.guess_service("Acme", "Your Google code") == "acme"


@pytest.mark.parametrize(
    ("mapping", "brands"),
    [
        ({"Acme": "Not A Tag"}, None),
        ({"Acme": ""}, None),
        ({"--": "acme"}, None),
        ({"Acme": "acme", "Beta": "bad tag"}, None),
        ({"Acme": "acme"}, {"  ": "acme"}),
        ({"Acme": "acme"}, {"Acme": "Bad Tag"}),
    ],
)
def test_bad_entries_raise_and_change_nothing(
    mapping: dict[str, str], brands: dict[str, str] | None
) -> None:
    directory = SenderDirectory(defaults=False)
    with pytest.raises(ValueError, match=r"tag|letters or digits"):
        directory.extend(mapping, brands=brands)
    assert directory.service_for_sender("Acme") is None
    assert directory.service_in_text("Acme") is None


def test_service_tags_are_lowercased() -> None:
    assert SenderDirectory({"Acme": " ACME "}).service_for_sender("acme") == "acme"


# --------------------------------------------------------------------------- properties


@given(source=st.text(max_size=40), text=st.text(max_size=200))
def test_guess_never_raises(source: str, text: str) -> None:
    service = DIRECTORY.guess_service(source, text, extract_codes(text))
    assert service is None or service == service.lower()


def test_an_entry_added_later_is_seen_by_a_source_asked_before() -> None:
    """Answers are remembered per source: extend must forget them."""
    directory = SenderDirectory()
    assert directory.service_for_sender("AcmeBank") is None
    directory.extend({"AcmeBank": "acme"})
    assert directory.service_for_sender("AcmeBank") == "acme"
    assert directory.guess_service("AcmeBank", "Your code is 123456") == "acme"
