"""The words around a one-time code (:mod:`.otp`, step 3): code words, words that often come
with one, decoys and labels, in the languages the corpus covers, and where they stand in
a text (:class:`Context`). Also the trie-shaped alternation their regexes are built with,
which :mod:`.senders` uses for brand names too."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from typing import TypeAlias

__all__ = ["DECOY", "LABEL", "STRONG", "WEAK", "WORDS", "Context", "trie_alternation"]

# Lowercase literals, found where a word starts. "~" marks one also found inside a word
# ("Bestätigungscode", "passcode"); so are all those in scripts that attach words to each
# other ("验证码为", "인증번호는", "الرمز"). ">" marks one that must end a word. Code words
# name a one-time code; weak words often come with one.
_STRONG_WORDS = (
    "~code", "código", "codigo", "codice", "~kode", "~kod", "~kód", "код", "cod>", "codul>",
    "otp", "passcode", "pin>", "tan>", "mtan>", "smstan>", "sms-tan>", "senha", "clave",
    "contraseña", "contrasena", "пароль", "hasło", "haslo", "şifre", "sifre", "sandi",
    "password", "mot de passe", "~kennwort", "~passwort", "mã>", "ma xac", "ma otp",
    "ma kich hoat", "ma bao mat",
    "验证码", "驗證碼", "校验码", "校驗碼", "动态码", "動態碼", "确认码", "確認碼",
    "动态密码", "密码", "認証コード", "確認コード", "認証番号", "確認番号", "暗証番号",
    "ワンタイムパスワード", "パスコード", "コード", "パスワード",
    "인증번호", "인증 번호", "인증코드", "인증 코드", "확인코드", "확인 코드", "승인번호",
    "비밀번호", "코드",
    "رمز", "كود", "کد>", "कोड", "ओटीपी", "קוד", "รหัส", "κωδικ",
)  # fmt: skip
_WEAK_WORDS = (
    "verif", "vérif", "weryfik", "confirm", "bestätig", "bestatig", "conferm", "potwierdz",
    "doğrula", "dogrula", "подтвержд", "підтвердж", "провер", "перевір", "xác thực",
    "xác minh", "xác nhận", "xac thuc", "xac minh", "xac nhan", "authenti", "autentica",
    "authentif", "anmeld", "login", "log in", "sign in", "sign-in", "inicio de sesi",
    "acceso", "acesso", "accès", "zugang", "вход", "вхід", "logowan", "giriş",
    "giris", "masuk", "đăng nhập", "dang nhap", "one-time", "one time", "einmal",
    "jednorazow", "одноразов", "tek kullan", "sekali pakai", "un solo uso", "usage unique",
    "security", "seguridad", "segurança", "seguranca", "sicherheit", "sicurezza", "sécurité",
    "securite", "безопасн", "bezpiecz", "güvenlik", "guvenlik", "keamanan", "安全", "認証",
    "인증", "确认", "確認", "登录", "登錄", "ログイン", "로그인", "التحقق", "تحقق", "تفعيل",
    "सत्यापन", "पासवर्ड", "2fa",
)  # fmt: skip
# Decoy words name a number that is not a one-time code, on either side of it.
_DECOY_WORDS = (
    "promo", "promocode", "promotional", "coupon", "discount", "voucher", "gift code",
    "gift card", "referral", "promocional", "código de descuento", "código de desconto",
    "cupom", "cupón", "cupon", "code promo", "code de réduction", "gutschein", "rabatt",
    "промокод", "kod rabatowy", "kod promocyjny", "indirim", "kode promo", "kode voucher",
    "优惠", "クーポン", "할인", "쿠폰", "zip code", "zipcode", "postcode", "post code",
    "postal code", "código postal", "code postal", "barcode", "bar code", "qr code", "qr-code",
    "area code", "country code", "postleitzahl", "код заказа", "kod zamówienia",
    "código de pedido", "código del pedido", "código de rastreio", "code de suivi",
    "order", "pedido", "orden>", "commande", "bestell", "auftrag", "ordine", "заказ",
    "замовлен", "zamówien", "zamowien", "sipariş", "siparis", "pesanan", "đơn hàng",
    "don hang", "订单", "訂單", "注文", "주문", "track", "shipment", "parcel", "package",
    "paket", "sendung", "colis", "encomenda", "посылк", "invoice", "factura",
    "fatura", "rechnung", "fattura", "faktur", "ticket", "booking", "reservation",
    "reserva", "buchung", "réservation", "prenotazione", "бронир", "flight", "vuelo",
    "voo>", "vol>", "flug", "рейс", "room", "habitación", "zimmer", "gate", "seat",
    "platform",
    # "your old code 4821": a code word right after these names a code no longer valid.
    "old>", "previous", "former", "anterior", "alte>", "alten>", "ancien>", "precedente",
    "старый", "предыдущ", "попередн", "poprzedni", "eski>", "旧", "以前の", "이전",
)  # fmt: skip
# Label words name the number right after them only.
_LABEL_WORDS = (
    "ref", "reference", "referencia", "referência", "référence", "nr>", "nr.", "№",
    "no.", "account", "acct", "cuenta", "conta>", "konto", "compte", "conto>", "счет",
    "счёт", "рахун", "hesap", "rekening", "tài khoản", "tai khoan", "账户", "帳戶", "口座",
    "계좌", "card", "tarjeta", "cartão", "cartao", "carte", "karte", "carta", "карт",
    "kart", "ending", "terminada", "endet", "call", "tel>", "tel.", "phone", "llam",
    "ligue", "ligar", "appel", "anruf", "chiam", "звон", "телефон", "дзвон",
    "zadzwo", "arayın", "arayin", "hubungi", "gọi", "致电", "电话", "電話", "전화", "اتصل",
    "fax", "hotline", "helpline", "balance", "saldo", "баланс", "total", "amount",
    "importe", "valor", "montant", "betrag", "сумм", "kwota", "tutar", "jumlah",
    "số tiền", "金额", "金額", "금액", "price", "precio", "preço", "prix", "preis",
    "цена", "cena", "fiyat", "harga",
)  # fmt: skip
#: A word's category: its index in the word lists above and in Context.starts and .ends.
STRONG, WEAK, DECOY, LABEL = range(4)


def _found_anywhere(word: str) -> bool:
    """True for "~" words and words of scripts that attach other words to them."""
    return word.startswith("~") or any(
        0x0590 <= ord(char) < 0x0700  # Hebrew, Arabic: "الرمز", "הקוד"
        or 0x0E00 <= ord(char) < 0x1000  # Thai, Lao, Tibetan, Myanmar: no spaces
        or 0x1100 <= ord(char) < 0x1200  # Hangul jamo
        or ord(char) >= 0x2100  # letterlike symbols (№), CJK, kana, Hangul syllables
        for char in word
    )


def _word_table() -> dict[str, tuple[int, bool]]:
    """literal -> (category, must end a word)."""
    table: dict[str, tuple[int, bool]] = {}
    groups = (_STRONG_WORDS, _WEAK_WORDS, _DECOY_WORDS, _LABEL_WORDS)
    for category, words in enumerate(groups):
        for word in words:
            table[word.strip("~>")] = (category, word.endswith(">"))
    return table


_Trie: TypeAlias = dict[str, "_Trie"]


def trie_alternation(words: Iterable[str]) -> str:
    """A regex matching exactly one of ``words``, the longest where several fit.

    Python's regex engine tries the branches of an alternation one after the other at every
    position: an alternation written as a trie has one branch per first character instead
    of one per word, several times faster for a few hundred words. With no words, a regex
    that never matches.
    """
    trie: _Trie = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_body(trie) or "(?!)"


def _trie_body(node: _Trie) -> str:
    branches = [re.escape(char) + _trie_body(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # "(?:...|)" rather than "(?:...)?": an optional group costs the engine a repeat frame.
    return f"(?:{body}|)" if "" in node else body


_ALL_WORDS = _STRONG_WORDS + _WEAK_WORDS + _DECOY_WORDS + _LABEL_WORDS
WORDS = _word_table()
# Searched in " " + text: the leading [^\w] lets the engine skip the inside of words
# without entering the alternation.
_AT_WORD_START = re.compile(
    r"[^\w]" + trie_alternation(w.strip(">") for w in _ALL_WORDS if not _found_anywhere(w))
)
_ANYWHERE = re.compile(trie_alternation(w.strip("~>") for w in _ALL_WORDS if _found_anywhere(w)))


def _lowercase_same_length(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # "İ".lower() is two code points; positions must keep matching the original text.
    return "".join(char if len(char.lower()) != 1 else char.lower() for char in text)


class Context:
    """Where the code, weak, decoy and label words of a text start and end."""

    __slots__ = ("ends", "starts")

    def __init__(self, text: str) -> None:
        self.starts: tuple[list[int], ...] = ([], [], [], [])
        self.ends: tuple[list[int], ...] = ([], [], [], [])
        lowered = _lowercase_same_length(text)
        # A match of _AT_WORD_START at [i, j) of " " + lowered is the word at [i, j - 1).
        found = [(m.start(), m.end() - 1) for m in _AT_WORD_START.finditer(" " + lowered)]
        inside = [m.span() for m in _ANYWHERE.finditer(lowered)]
        if inside:
            found = sorted(found + inside)
        last_end = last_decoy_end = -10
        for start, end in found:
            category, must_end_word = WORDS[lowered[start:end]]
            # "promocode" holds "code": the earlier, longer word wins.
            if start < last_end or (must_end_word and lowered[end : end + 1].isalpha()):
                continue
            # "promo code", "Rabatt-Code", "tracking code": a code word right after a decoy
            # word names the decoy's kind of code.
            if category == STRONG and start - last_decoy_end <= 2:
                category = DECOY
            if category == DECOY:
                last_decoy_end = end
            self.starts[category].append(start)
            self.ends[category].append(end)
            last_end = end

    def gap_before(self, category: int, position: int, not_before: int) -> int | None:
        """Characters from the nearest word ending in [not_before, position] to position."""
        ends = self.ends[category]
        index = bisect_right(ends, position) - 1
        if index < 0 or ends[index] < not_before:
            return None
        return position - ends[index]

    def gap_after(self, category: int, position: int, not_after: int) -> int | None:
        """Characters from position to the nearest word starting in [position, not_after]."""
        starts = self.starts[category]
        index = bisect_left(starts, position)
        if index == len(starts) or starts[index] > not_after:
            return None
        return starts[index] - position
