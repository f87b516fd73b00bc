"""Which service an SMS comes from: its sender, its origin-bound domain, or a brand in its text.

A service tag is the lowercase name that rentals use (``google``, ``whatsapp``, ...). The
directory holds three tables, each a built-in default the operator can extend (the
operator's entries win):

- **senders**: alphanumeric sender ids and short codes (``Google``, ``WhatsApp``,
  ``32665``). Keys are compared case-insensitively with punctuation and spaces removed,
  after dropping an Indian DLT header prefix (``AX-``, ``VM-``) and category suffix
  (``-S``, ``-T``); ``GoogleVerify`` and ``FBOTP`` fall back to ``google`` and ``fb`` by
  dropping a common suffix ("verify", "otp", ...).
- **domains**: hosts for the origin-bound format (``@accounts.google.com #123456``); a host
  matches an entry for itself or any parent domain, else its registrable label is looked up
  as a sender (``amazon.co.uk`` -> ``amazon``).
- **brands**: names in the text (``Your WhatsApp code 123-456``), compared in lowercase.
  Names in scripts that attach words to each other (Chinese, Japanese, Korean, Thai) are
  found anywhere; the others only as whole words ("Uber", not "Ubers").

``guess_service`` tries the sender, then an origin-bound domain, then a bracketed signature
(``【淘宝网】``, ``[카카오]``, looked up as a sender), then the earliest brand in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from smslocker.routing.otp import Code
from smslocker.routing.otp_words import trie_alternation

__all__ = ["SenderDirectory", "guess_service"]

# service -> sender ids (alphanumeric ids and short codes) that mean it.
_DEFAULT_SENDERS: dict[str, tuple[str, ...]] = {
    "google": ("google", "gmail", "googleaccount", "youtube", "googlevoice"),
    "whatsapp": ("whatsapp", "whatsappbusiness"),
    "telegram": ("telegram", "telegramcode"),
    # Short codes are per country; the defaults are US ones (32665 spells FBOOK).
    "facebook": ("facebook", "fb", "fbook", "meta", "32665"),
    "instagram": ("instagram", "insta"),
    "microsoft": ("microsoft", "msft", "outlook", "hotmail", "xbox", "skype", "msverify"),
    "apple": ("apple", "appleid", "icloud"),
    "amazon": ("amazon", "amzn", "amazonin", "aws", "262966"),
    "uber": ("uber", "ubereats"),
    "tiktok": ("tiktok",),
    # "X" is its name since 2023.
    "twitter": ("twitter", "twttr", "x", "40404"),
    "discord": ("discord",),
    "paypal": ("paypal", "729725"),
    "linkedin": ("linkedin",),
    "snapchat": ("snapchat",),
    "netflix": ("netflix",),
    "airbnb": ("airbnb",),
    "yahoo": ("yahoo",),
    "openai": ("openai", "chatgpt"),
    "steam": ("steam", "steamguard"),
    "viber": ("viber",),
    "line": ("line", "linecorp"),
    "wechat": ("wechat", "weixin", "微信"),
    "kakao": ("kakao", "kakaotalk", "카카오", "카카오톡"),
    "signal": ("signal",),
    "tinder": ("tinder",),
    "bumble": ("bumble",),
    "binance": ("binance",),
    "coinbase": ("coinbase",),
    "revolut": ("revolut",),
    "ebay": ("ebay",),
    "aliexpress": ("aliexpress", "alibaba"),
    "shopee": ("shopee",),
    "grab": ("grab",),
    "gojek": ("gojek",),
    "lazada": ("lazada",),
    "careem": ("careem",),
    "bolt": ("bolt",),
    "lyft": ("lyft",),
    "doordash": ("doordash",),
    "naver": ("naver", "네이버"),
    "yandex": ("yandex", "яндекс"),
    "vk": ("vk", "vkontakte", "вконтакте"),
    "ozon": ("ozon",),
    "avito": ("avito",),
    "wildberries": ("wildberries",),
    # 900 is Sberbank's short number in Russia.
    "sberbank": ("sberbank", "sber", "сбербанк", "сбер", "900"),
    "monobank": ("monobank",),
    "kaspi": ("kaspi", "kaspikz"),
    "tokopedia": ("tokopedia",),
    "zalo": ("zalo",),
    "taobao": ("taobao", "淘宝", "淘宝网"),
    "alipay": ("alipay", "支付宝"),
    "jd": ("jd", "jdcom", "京东"),
    "meituan": ("meituan", "美团"),
    "qq": ("qq", "tencent", "腾讯", "腾讯科技"),
    "paytm": ("paytm", "paytmb"),
    "phonepe": ("phonepe",),
    "flipkart": ("flipkart",),
    "swiggy": ("swiggy",),
    "zomato": ("zomato",),
    "mercadolibre": ("mercadolibre", "mercadolivre", "mercadopago"),
    "nubank": ("nubank",),
    "ifood": ("ifood",),
    "rappi": ("rappi",),
    "zoom": ("zoom",),
    "leboncoin": ("leboncoin",),
    "allegro": ("allegro",),
    "trendyol": ("trendyol",),
    "mercari": ("mercari", "メルカリ"),
    "rakuten": ("rakuten", "楽天"),
    "roblox": ("roblox",),
    "spotify": ("spotify",),
    "twitch": ("twitch",),
    "reddit": ("reddit",),
    "github": ("github",),
    "dropbox": ("dropbox",),
    "truecaller": ("truecaller",),
}

_DEFAULT_DOMAINS: dict[str, tuple[str, ...]] = {
    "google": ("google.com", "youtube.com", "gmail.com"),
    "whatsapp": ("whatsapp.com", "whatsapp.net", "wa.me"),
    "telegram": ("telegram.org", "t.me"),
    "facebook": ("facebook.com", "fb.com", "meta.com"),
    "instagram": ("instagram.com",),
    "microsoft": ("microsoft.com", "live.com", "outlook.com", "microsoftonline.com"),
    "apple": ("apple.com", "icloud.com"),
    "twitter": ("twitter.com", "x.com"),
    "discord": ("discord.com", "discordapp.com"),
    "paypal": ("paypal.com",),
    "tiktok": ("tiktok.com",),
    "openai": ("openai.com", "chatgpt.com"),
    "steam": ("steampowered.com", "steamcommunity.com"),
    "jd": ("jd.com",),
    "taobao": ("taobao.com",),
    "yandex": ("yandex.ru", "ya.ru"),
    "vk": ("vk.com",),
}

# Brand words that name a service in the text; those that are also common words ("line",
# "signal", "bolt", "grab", "x") are left out.
_DEFAULT_BRANDS: dict[str, tuple[str, ...]] = {
    "google": ("google", "gmail", "youtube"),
    "whatsapp": ("whatsapp",),
    "telegram": ("telegram", "телеграм"),
    "facebook": ("facebook",),
    "instagram": ("instagram",),
    "microsoft": ("microsoft", "outlook", "hotmail", "xbox", "skype"),
    "apple": ("apple", "icloud"),
    "amazon": ("amazon",),
    "uber": ("uber",),
    "tiktok": ("tiktok",),
    "twitter": ("twitter",),
    "discord": ("discord",),
    "paypal": ("paypal",),
    "linkedin": ("linkedin",),
    "snapchat": ("snapchat",),
    "netflix": ("netflix",),
    "airbnb": ("airbnb",),
    "yahoo": ("yahoo",),
    "openai": ("openai", "chatgpt"),
    "steam": ("steam guard",),
    "viber": ("viber",),
    "wechat": ("wechat", "weixin", "微信"),
    "kakao": ("kakaotalk", "kakao", "카카오"),
    "tinder": ("tinder",),
    "bumble": ("bumble",),
    "binance": ("binance",),
    "coinbase": ("coinbase",),
    "revolut": ("revolut",),
    "ebay": ("ebay",),
    "aliexpress": ("aliexpress", "alibaba"),
    "shopee": ("shopee",),
    "gojek": ("gojek",),
    "lazada": ("lazada",),
    "careem": ("careem",),
    "lyft": ("lyft",),
    "doordash": ("doordash",),
    "naver": ("naver", "네이버"),
    "yandex": ("yandex", "яндекс"),
    "vk": ("vkontakte", "вконтакте"),
    "ozon": ("ozon",),
    "avito": ("avito", "авито"),
    "wildberries": ("wildberries",),
    "sberbank": ("sberbank", "сбербанк", "сбербанк онлайн", "сбер"),
    "monobank": ("monobank",),
    "kaspi": ("kaspi",),
    "tokopedia": ("tokopedia",),
    "zalo": ("zalo",),
    "taobao": ("taobao", "淘宝"),
    "alipay": ("alipay", "支付宝"),
    "jd": ("京东",),
    "meituan": ("meituan", "美团"),
    "qq": ("腾讯",),
    "paytm": ("paytm",),
    "phonepe": ("phonepe",),
    "flipkart": ("flipkart",),
    "swiggy": ("swiggy",),
    "zomato": ("zomato",),
    "mercadolibre": ("mercadolibre", "mercado libre", "mercado livre", "mercado pago"),
    "nubank": ("nubank",),
    "ifood": ("ifood",),
    "rappi": ("rappi",),
    "zoom": ("zoom",),
    "leboncoin": ("leboncoin",),
    "allegro": ("allegro",),
    "trendyol": ("trendyol",),
    "mercari": ("mercari", "メルカリ"),
    "rakuten": ("rakuten", "楽天"),
    "roblox": ("roblox",),
    "spotify": ("spotify",),
    "twitch": ("twitch",),
    "github": ("github",),
    "dropbox": ("dropbox",),
    "truecaller": ("truecaller",),
}

# What senders append to a brand: "GoogleVerify", "FBOTP", "AppleSupport".
_SENDER_SUFFIXES = (
    "verification", "verify", "otp", "codes", "code", "auth", "sms", "info", "notify",
    "alerts", "alert", "secure", "security", "login", "msg", "team", "service", "support",
    "noreply", "app", "bot", "2fa", "pin", "id",
)  # fmt: skip
# Indian DLT headers: "AX-AMAZON", "VM-HDFCBK-S" (operator and circle, then the category).
_DLT_HEADER = re.compile(r"^[A-Za-z]{2}-([A-Za-z0-9]{3,})(?:-[STPGstpg])?$")
_NOT_ALNUM = re.compile(r"[\W_]+")
_SERVICE_TAG = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go"})
_SIGNATURE = re.compile(r"[【\[]([^】\]\n]{1,24})[】\]]")


#: Sources whose service is remembered (then the memory starts again).
_MAX_REMEMBERED_SOURCES = 65536


def _unspaced(name: str) -> bool:
    """True for names in scripts that attach words to each other (Thai, CJK, Hangul)."""
    return any(ord(char) >= 0x0E00 and not 0x1E00 <= ord(char) < 0x2000 for char in name)


def _sender_key(source: str) -> str:
    source = source.strip()
    header = _DLT_HEADER.match(source)
    if header is not None:
        source = header[1]
    return _NOT_ALNUM.sub("", source.casefold())


def _host(domain: str) -> str:
    host = _SCHEME.sub("", domain.strip().lower()).lstrip("@")
    return host.split("/", 1)[0].split(":", 1)[0].rstrip(".")


def _is_domain(source: str) -> bool:
    return "." in source and " " not in source.strip() and not source.replace(".", "").isdigit()


def _service_tag(service: str) -> str:
    tag = service.strip().lower()
    if not _SERVICE_TAG.match(tag):
        raise ValueError(f"service tag {service!r} is not lowercase letters, digits, '_.-'")
    return tag


def _invert(table: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {name: service for service, names in table.items() for name in names}


class SenderDirectory:
    """Maps message sources and brands to service tags; the operator's entries win.

    ``senders`` maps sender ids, short codes and domains (keys with a dot) to services;
    ``brands`` maps words in a message's text. With ``defaults=False`` the built-in tables
    are left out.
    """

    def __init__(
        self,
        senders: Mapping[str, str] | None = None,
        *,
        brands: Mapping[str, str] | None = None,
        defaults: bool = True,
    ) -> None:
        self._senders: dict[str, str] = {}
        self._domains: dict[str, str] = {}
        self._by_source: dict[str, str | None] = {}
        self._brands: dict[str, str] = {}
        self._brands_at_word_start = re.compile("(?!)")
        self._brands_anywhere = re.compile("(?!)")
        if defaults:
            self.extend(_invert(_DEFAULT_SENDERS), brands=_invert(_DEFAULT_BRANDS))
            self.extend({domain: tag for domain, tag in _invert(_DEFAULT_DOMAINS).items()})
        self.extend(senders or {}, brands=brands)

    def extend(
        self, mapping: Mapping[str, str], *, brands: Mapping[str, str] | None = None
    ) -> None:
        """Add or override entries: ``mapping`` for senders and domains, ``brands`` for text.

        Raises ValueError for an empty key or a service tag that is not lowercase
        letters, digits and ``_.-``; nothing is changed then.
        """
        senders: dict[str, str] = {}
        domains: dict[str, str] = {}
        for source, service in mapping.items():
            tag = _service_tag(service)
            if _is_domain(source):
                domains[_checked(_host(source), source)] = tag
            else:
                senders[_checked(_sender_key(source), source)] = tag
        brand_names: dict[str, str] = {}
        for brand, service in (brands or {}).items():
            brand_names[_checked(" ".join(brand.lower().split()), brand)] = _service_tag(service)
        self._senders.update(senders)
        self._domains.update(domains)
        self._by_source.clear()
        if brand_names:
            self._brands.update(brand_names)
            names = self._brands
            # As in otp.py: a leading [^\w] skips the inside of words without trying names.
            self._brands_at_word_start = re.compile(
                r"[^\w]" + trie_alternation(name for name in names if not _unspaced(name))
            )
            self._brands_anywhere = re.compile(
                trie_alternation(name for name in names if _unspaced(name))
            )

    def service_for_sender(self, source: str) -> str | None:
        """The service of a sender id, short code or domain; None when unknown."""
        # Remembered per source (the answer is a function of the tables, and extend
        # forgets them all): services send from a few ids, and ingest asks for each SMS.
        try:
            return self._by_source[source]
        except KeyError:
            pass
        service = self._look_up_sender(source)
        if len(self._by_source) >= _MAX_REMEMBERED_SOURCES:
            self._by_source.clear()
        self._by_source[source] = service
        return service

    def _look_up_sender(self, source: str) -> str | None:
        if _is_domain(source):
            return self.service_for_domain(source)
        key = _sender_key(source)
        if not key:
            return None
        service = self._senders.get(key)
        if service is not None:
            return service
        if not key.endswith(_SENDER_SUFFIXES):
            return None
        for suffix in _SENDER_SUFFIXES:
            if key.endswith(suffix) and len(key) - len(suffix) >= 2:
                service = self._senders.get(key[: -len(suffix)])
                if service is not None:
                    return service
        return None

    def service_for_domain(self, domain: str) -> str | None:
        """The service of a host (``accounts.google.com``); None when unknown."""
        labels = _host(domain).split(".")
        for index in range(len(labels)):
            service = self._domains.get(".".join(labels[index:]))
            if service is not None:
                return service
        if len(labels) < 2:
            return None
        registrable = labels[-2]
        if registrable in _SECOND_LEVEL and len(labels[-1]) == 2 and len(labels) >= 3:
            registrable = labels[-3]  # amazon.co.uk, mercadolivre.com.br
        return self._senders.get(_sender_key(registrable))

    def service_in_text(self, text: str) -> str | None:
        """The service of the earliest brand named in ``text``; None when there is none."""
        lowered = text.lower()
        best: tuple[int, str] | None = None
        # In " " + lowered a match at [i, j) is the name at [i, j - 1) of lowered.
        for match in self._brands_at_word_start.finditer(" " + lowered):
            name = match.group()[1:]
            end = match.end() - 1
            if not lowered[end : end + 1].isalnum():  # "uber", not "ubers"
                best = (match.start(), self._brands[name])
                break
        inside = self._brands_anywhere.search(lowered, 0, best[0] if best else len(lowered))
        if inside is not None:
            return self._brands[inside.group()]
        return best[1] if best is not None else None

    def guess_service(self, source: str, text: str, codes: Iterable[Code] = ()) -> str | None:
        """The service a message comes from: sender, origin-bound domain, signature, text."""
        service = self.service_for_sender(source)
        if service is not None:
            return service
        for code in codes:
            if code.domain is not None:
                service = self.service_for_domain(code.domain)
                if service is not None:
                    return service
        for signature in _SIGNATURE.finditer(text):
            service = self.service_for_sender(signature[1])
            if service is not None:
                return service
        return self.service_in_text(text)


def _checked(key: str, original: str) -> str:
    if not key:
        raise ValueError(f"{original!r} has no letters or digits to match on")
    return key


_DEFAULT_DIRECTORY = SenderDirectory()


def guess_service(
    source: str,
    text: str,
    codes: Iterable[Code] = (),
    *,
    directory: SenderDirectory | None = None,
) -> str | None:
    """``directory.guess_service`` with the built-in tables when no directory is given."""
    return (directory or _DEFAULT_DIRECTORY).guess_service(source, text, codes)
