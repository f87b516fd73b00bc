"""HTTP ingress: providers that deliver inbound SMS by callback instead of SMPP.

Pure parts of ``POST /api/v1/ingest/{connector}`` (the route is in
:mod:`smslocker.api.routes.ingest`): reading the two body formats into
:class:`~.messages.InboundMessage` objects and checking who sent them. The route then
hands the messages to the same sink as an SMPP connector (the group-committed
:class:`~smslocker.routing.ingest.StoreSink`) and answers 2xx only once they are
committed: a provider that gets no 2xx retries, and de-duplication (same connector,
sender, number, text, timestamp) keeps the inbox exact, as it does for an SMSC's
redelivery.

Formats:

- generic JSON, one object or a list of them: ``{"from" | "source", "to" |
  "destination", "text", "timestamp"?, "id"?}``; ``timestamp`` is ISO-8601 (with a zone,
  or UTC) or Unix seconds, and plays the part of the SMSC timestamp;
- Twilio's form post (``application/x-www-form-urlencoded``): ``From``, ``To``, ``Body``,
  ``MessageSid``, ``NumSegments``.

Authentication is the connector's ``http_secret``, never a user's key; without a secret
the ingress is open (a test setup, or a provider on a private network):

- Twilio: ``X-Twilio-Signature``, base64 of HMAC-SHA1 (key: the auth token) over the
  full URL the provider called followed by each form parameter's name and value, sorted
  by name (https://www.twilio.com/docs/usage/webhooks/webhooks-security);
- generic JSON: ``Authorization: Bearer <secret>``, or ``X-Smslocker-Signature:
  sha256=<hex of HMAC-SHA256 of the raw body>`` for providers that sign.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from .messages import InboundMessage

#: At most this many messages in one generic JSON post.
MAX_BATCH = 1000
#: The longest text accepted (a 255-part concatenated SMS is under 40,000 characters).
MAX_TEXT = 40_000
_MAX_ADDRESS = 64
_PHONE_PUNCTUATION = str.maketrans("", "", " -().")
#: What an HTTP message says about its coding: the provider decoded it, we got Unicode.
ENCODING = "utf-8"
TWILIO_SIGNATURE = "x-twilio-signature"
HMAC_SIGNATURE = "x-smslocker-signature"


class BadInbound(ValueError):
    """The body is not an inbound SMS we can read; ``str()`` says what is wrong."""


# --------------------------------------------------------------------------- formats


def json_messages(connector: str, payload: Any, received_at: datetime) -> list[InboundMessage]:
    """The messages of a generic JSON body (one object or a list of them)."""
    items = payload if isinstance(payload, list) else [payload]
    if len(items) > MAX_BATCH:
        raise BadInbound(f"at most {MAX_BATCH} messages in one post")
    messages = []
    for index, item in enumerate(items):
        where = f"[{index}]" if isinstance(payload, list) else "body"
        if not isinstance(item, dict):
            raise BadInbound(f"{where}: an object with from, to and text")
        try:
            messages.append(_json_message(connector, item, received_at))
        except BadInbound as error:
            raise BadInbound(f"{where}: {error}") from None
    return messages


def _json_message(connector: str, item: Mapping[str, Any], received_at: datetime) -> InboundMessage:
    source = _field(item, "from", "source")
    destination = _field(item, "to", "destination")
    text = item.get("text")
    if not isinstance(text, str):
        raise BadInbound("text: a string is required")
    return _message(
        connector,
        source=source,
        destination=destination,
        text=text,
        received_at=received_at,
        smsc_timestamp=parse_timestamp(item.get("timestamp")),
    )


def _field(item: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = item.get(name)
        if value is not None:
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise BadInbound(f"{name}: a string is required")
            return str(value)
    raise BadInbound(f"{' or '.join(names)}: required")


def parse_timestamp(value: Any) -> datetime | None:
    """``value`` (ISO-8601, or Unix seconds) as an aware UTC time; None if absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadInbound("timestamp: ISO-8601 or Unix seconds")
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise BadInbound("timestamp: ISO-8601 or Unix seconds")


def twilio_message(
    connector: str, form: Mapping[str, str], received_at: datetime
) -> InboundMessage:
    """The message of a Twilio form post (``From``, ``To``, ``Body``, ``NumSegments``)."""
    missing = [name for name in ("From", "To", "Body") if name not in form]
    if missing:
        raise BadInbound(f"missing form fields: {', '.join(missing)}")
    segments = form.get("NumSegments") or "1"
    if not segments.isdigit() or not 1 <= int(segments) <= 255:
        raise BadInbound("NumSegments: a number from 1 to 255")
    return _message(
        connector,
        source=form["From"],
        destination=form["To"],
        text=form["Body"],
        received_at=received_at,
        parts=int(segments),
    )


def _message(
    connector: str,
    *,
    source: str,
    destination: str,
    text: str,
    received_at: datetime,
    smsc_timestamp: datetime | None = None,
    parts: int = 1,
) -> InboundMessage:
    if len(text) > MAX_TEXT:
        raise BadInbound(f"text: longer than {MAX_TEXT} characters")
    _storable(text, "text")
    _storable(source, "from")
    return InboundMessage(
        connector=connector,
        source=_address(source, "from"),
        destination=_number(destination),
        text=text,
        data_coding=0,
        encoding=ENCODING,
        received_at=received_at,
        smsc_timestamp=smsc_timestamp,
        parts=parts,
    )


def _storable(value: str, name: str) -> None:
    """Text the database can hold: no NUL (PostgreSQL refuses it in text), no lone
    surrogate (JSON can spell one; it is no Unicode text)."""
    if "\x00" in value:
        raise BadInbound(f"{name}: contains U+0000")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadInbound(f"{name}: not valid Unicode text") from None


def _address(value: str, name: str) -> str:
    """A sender as SMPP gives it: digits without '+' for a number, else as it is."""
    value = value.strip()
    if not value or len(value) > _MAX_ADDRESS:
        raise BadInbound(f"{name}: 1 to {_MAX_ADDRESS} characters")
    bare = value.translate(_PHONE_PUNCTUATION).removeprefix("+")
    return bare if bare.isdigit() and bare.isascii() else value


def _number(value: str) -> str:
    """The destination: one of our numbers, in international format."""
    bare = value.strip().translate(_PHONE_PUNCTUATION).removeprefix("+")
    if not (bare.isdigit() and bare.isascii() and 6 <= len(bare) <= 15):
        raise BadInbound("to: a phone number in international format (E.164)")
    return bare


def form_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The form as a mapping (the first value of a repeated field)."""
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


# --------------------------------------------------------------------------- signatures


def twilio_signature(token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature`` of a form post to ``url`` (see the module docstring).

    Parameters are sorted by name, the values of a repeated name by value, as Twilio's
    own helper libraries do.
    """
    data = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twilio_valid(
    token: str, url: str, params: Sequence[tuple[str, str]], signature: str | None
) -> bool:
    """Whether ``signature`` is Twilio's for this post.

    Tried with and without the default port in the URL: Twilio's helper libraries do
    the same, since which of the two the provider signed depends on how the URL was
    configured, and proxies add or drop the port.
    """
    if not signature:
        return False
    return any(
        hmac.compare_digest(twilio_signature(token, candidate, params), signature)
        for candidate in _url_variants(url)
    )


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None or not parts.hostname or "@" in parts.netloc:
        return [url]
    if parts.port is None:
        other = f"{parts.netloc}:{default}"
    elif parts.port == default:
        other = parts.netloc.rsplit(":", 1)[0]
    else:
        return [url]
    return [url, parts._replace(netloc=other).geturl()]


def bearer_valid(secret: str, authorization: str | None) -> bool:
    """``Authorization: Bearer <secret>``, compared in constant time."""
    if not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip(), secret)


def body_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the raw body (``X-Smslocker-Signature``)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def body_signature_valid(secret: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    return hmac.compare_digest(body_signature(secret, body), signature.strip())


__all__ = [
    "ENCODING",
    "HMAC_SIGNATURE",
    "MAX_BATCH",
    "TWILIO_SIGNATURE",
    "BadInbound",
    "bearer_valid",
    "body_signature",
    "body_signature_valid",
    "form_fields",
    "json_messages",
    "parse_timestamp",
    "twilio_message",
    "twilio_signature",
    "twilio_valid",
]
