"""Webhook signatures, as Standard Webhooks 1.0.0 has them (https://www.standardwebhooks.com).

Theory of operation: each endpoint has a secret, ``whsec_`` and the base64 of 24 to 64
random bytes (the HMAC key). A delivery carries three headers:

- ``webhook-id``: the message id, the same on every retry (the receiver's idempotency key);
- ``webhook-timestamp``: when this attempt was made, integer Unix seconds;
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of f"{id}.{timestamp}." + body>``, or
  several such, space-separated, while a secret is rotated (old and new both sign).

The receiver recomputes the HMAC over the raw body, accepts when any ``v1`` signature
matches (compared in constant time), and rejects a timestamp more than a tolerance away
from its clock, in either direction, so that a captured delivery cannot be replayed
later. Nothing here reads a clock: the caller passes ``now``.

Errors (all raised by :func:`verify`)::

    WebhookVerificationError
    ├── WebhookHeaderError      a header missing or malformed
    ├── WebhookTimestampError   the timestamp is outside the tolerance
    └── WebhookSignatureError   no signature matches
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
#: How far a delivery's timestamp may be from the receiver's clock (the spec's 5 minutes).
DEFAULT_TOLERANCE_S = 300

# The spec's bounds on a symmetric key: at least 24 bytes (192 bits), at most 64 (512 bits).
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64

_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class WebhookVerificationError(Exception):
    """A webhook delivery failed verification. See the module docstring."""


class WebhookHeaderError(WebhookVerificationError):
    """A ``webhook-*`` header is missing or malformed."""


class WebhookTimestampError(WebhookVerificationError):
    """``webhook-timestamp`` is too far in the past (a replay?) or in the future."""


class WebhookSignatureError(WebhookVerificationError):
    """No signature in ``webhook-signature`` matches the body and the secret."""


def generate_secret(nbytes: int = 32) -> str:
    """A new endpoint secret: ``whsec_`` and the base64 of ``nbytes`` random bytes."""
    if not MIN_SECRET_BYTES <= nbytes <= MAX_SECRET_BYTES:
        raise ValueError(f"a secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The signature of one delivery: ``"v1,<base64 HMAC-SHA256>"``."""
    _check_msg_id(msg_id, ValueError)
    if timestamp < 0:
        raise ValueError("a timestamp is a non-negative number of Unix seconds")
    return f"{SIGNATURE_VERSION},{_digest(_key(secret), msg_id, str(timestamp), body)}"


def webhook_headers(
    signing_secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The three headers of a delivery, signed with each of ``signing_secrets`` (several
    while a secret is rotated: the receiver accepts any one)."""
    if not signing_secrets:
        raise ValueError("sign with at least one secret")
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(
            sign(secret, msg_id, timestamp, body) for secret in signing_secrets
        ),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Check a delivery: raise a :class:`WebhookVerificationError` unless one of its
    ``v1`` signatures is ``secret``'s over ``body`` and its timestamp is within
    ``tolerance_s`` of ``now`` (Unix seconds). Header names are matched ignoring case."""
    key = _key(secret)
    msg_id = _header(headers, ID_HEADER)
    timestamp_text = _header(headers, TIMESTAMP_HEADER)
    signatures = _header(headers, SIGNATURE_HEADER)
    _check_msg_id(msg_id, WebhookHeaderError)
    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise WebhookHeaderError(f"{TIMESTAMP_HEADER} is not integer Unix seconds")
    timestamp = int(timestamp_text)
    if timestamp < now - tolerance_s:
        raise WebhookTimestampError(f"{TIMESTAMP_HEADER} is more than {tolerance_s} s old")
    if timestamp > now + tolerance_s:
        raise WebhookTimestampError(
            f"{TIMESTAMP_HEADER} is more than {tolerance_s} s in the future"
        )
    expected = _digest(key, msg_id, timestamp_text, body).encode("ascii")
    matched = False
    for entry in signatures.split(" "):
        version, _, signature = entry.partition(",")
        if version != SIGNATURE_VERSION:
            continue  # another scheme (v1a: ed25519) or an empty entry: not ours to judge
        # Every v1 entry is compared, and in constant time, so that the time taken does
        # not tell which entry, or how much of one, came close.
        matched |= hmac.compare_digest(expected, signature.encode("utf-8", "replace"))
    if not matched:
        raise WebhookSignatureError("no signature matches")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret is {SECRET_PREFIX}<base64>") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(key)}"
        )
    return key


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def _check_msg_id(msg_id: str, error: type[Exception]) -> None:
    # An id with a "." would make the signed content ambiguous: ("a.1", 2, body) and
    # ("a", 1, "2." + body) sign the same bytes. Without dots, id, timestamp and body
    # split one way only (the spec: ids must not contain ".").
    if not msg_id or "." in msg_id:
        raise error(f"{ID_HEADER} must be non-empty and contain no '.'")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if value is None:
        raise WebhookHeaderError(f"missing {name} header")
    return value
