"""A message's body (text, binary payload, codes) as one sealed blob, and back.

Ingest seals the body as it stores the message (:func:`seal_body`); every reader opens
it (:func:`open_body`). One blob per message rather than one per column: one AES-GCM
operation instead of three, and nothing about the body (not even whether it had codes)
is visible in the database. The message's metadata (sender, number, times, rental) stays
in clear: routing, retention and abuse review query it.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from .keyring import KeyRing

#: Authenticated data of every body blob: a blob sealed for something else does not open.
CONTEXT = b"smslocker/message-body/v1"

_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Body:
    """What a message says; all None once retention purged it."""

    text: str | None
    binary: bytes | None
    codes: list[dict[str, Any]] | None


def seal_body(
    ring: KeyRing, text: str | None, binary: bytes | None, codes: list[dict[str, Any]] | None
) -> bytes:
    document: dict[str, Any] = {"t": text, "c": codes}
    if binary is not None:
        document["b"] = base64.b64encode(binary).decode()
    return ring.seal(_JSON.encode(document).encode(), CONTEXT)


def seal_parts(
    ring: KeyRing, text: str | None, binary: bytes | None, codes_json: str | None
) -> bytes:
    """:func:`seal_body` with the codes already JSON (as ingest has them): no second
    encoding of the codes on the hot path."""
    parts = ['{"t":', _JSON.encode(text), ',"c":', codes_json or "null"]
    if binary is not None:
        parts += [',"b":"', base64.b64encode(binary).decode(), '"']
    parts.append("}")
    return ring.seal("".join(parts).encode(), CONTEXT)


def open_body(ring: KeyRing, blob: bytes) -> Body:
    """The body sealed in ``blob`` (:class:`~.keyring.SealError` if it does not open)."""
    document = json.loads(ring.open(blob, CONTEXT))
    binary = document.get("b")
    return Body(
        text=document.get("t"),
        binary=base64.b64decode(binary) if binary is not None else None,
        codes=document.get("c"),
    )


__all__ = ["CONTEXT", "Body", "open_body", "seal_body", "seal_parts"]
