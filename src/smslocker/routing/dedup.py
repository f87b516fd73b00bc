"""De-duplication: telling an SMSC's redelivery from a new message.

An SMSC redelivers a deliver_sm whose answer it did not get: we crashed after
the commit but before the ack, the link dropped, our ack arrived after its
response timer. SMPP 3.4 gives a deliver_sm no id that survives such a
redelivery (the sequence number is per session, and receipted_message_id is
for receipts only), so the key is made of what a redelivery reproduces: the
connector it came in on, source, destination, data_coding, the text (or the
binary octets), the SMSC timestamp when the SMSC gives one, and the number of
parts.

Why a window rather than "never store the same key twice": without an SMSC
timestamp, two *different* messages can have the same key — a service that
sends "Your code is 1234" twice to one number. Inside
``ingest.dedup_window_s`` (default one hour) the second is taken as a
redelivery and not stored again: an identical text from one sender to one
number within the window is indistinguishable from a redelivery, and losing
a repeat of a text the renter already has costs less than showing a
redelivered message twice (a duplicated code, a duplicated webhook). After
the window the same text is a new message again, and no SMSC keeps
redelivering for an hour. With an SMSC timestamp in the key, repeats sent at
different times never collide.
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import blake2b

#: Bytes of digest; 16 bytes = the 32 hex characters of ``messages.dedup_key``.
KEY_BYTES = 16
_SEPARATOR = "\x1f"  # ASCII unit separator: cannot appear in an address


def dedup_key(
    *,
    connector: str,
    source: str,
    destination: str,
    data_coding: int,
    text: str,
    binary: bytes | None,
    smsc_timestamp: datetime | None,
    parts: int,
) -> str:
    """The key a redelivery of this message reproduces (32 hex characters).

    ``destination`` is the normalised (E.164) one, so a redelivery with or
    without the ``+`` is still the same message.
    """
    # Marked, so that a text can never collide with the hex of some binary message.
    body = "b:" + binary.hex() if binary is not None else "t:" + text
    stamp = smsc_timestamp.astimezone(UTC).isoformat() if smsc_timestamp is not None else ""
    material = _SEPARATOR.join(
        (connector, source, destination, str(data_coding), stamp, str(parts), body)
    )
    return blake2b(material.encode("utf-8", "surrogatepass"), digest_size=KEY_BYTES).hexdigest()
