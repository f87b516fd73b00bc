"""From an :class:`InboundMessage` to the row ingest writes: everything that needs no database.

Done in the connector's sink call, before the message joins a group commit, so
that this CPU work overlaps the transaction of the previous batch instead of
lengthening the next one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from smslocker.gateway.messages import InboundMessage
from smslocker.privacy.bodies import seal_parts
from smslocker.privacy.keyring import KeyRing
from smslocker.routing.otp import Code, CodeExtractor
from smslocker.routing.otp import codes_json as encode_codes

from .concat_marks import SealedMark, seal_mark
from .dedup import dedup_key
from .route import message_time, normalise_destination, timestamp_sane

#: A health probe's text carries its token (contract: pool sends, ingest recognises).
PROBE_TEXT = re.compile(r"smslocker probe ([0-9a-z]{8,32})")
PROBE_SERVICE = "probe"


#: (source, text, codes) -> service name or None (``smslocker.routing.senders``).
ServiceGuess = Callable[[str, str, Sequence[Code]], str | None]


class PreparedMessage:
    """One message ready to insert (routing fills in the rental, account and rental_active;
    the insert fills in ``id``, the row's id, for the ``message.received`` event)."""

    __slots__ = (
        "account_id",
        "binary",
        "codes_json",
        "complete",
        "concat",
        "connector",
        "data_coding",
        "dedup_key",
        "destination",
        "encoding",
        "held",
        "held_reason",
        "id",
        "lossy",
        "message_time",
        "parts",
        "probe_token",
        "received_at",
        "rental_active",
        "rental_id",
        "sealed",
        "service",
        "smsc_timestamp",
        "source",
        "text",
    )

    def __init__(
        self,
        message: InboundMessage,
        *,
        destination: str,
        key: str,
        moment: datetime,
        codes_json: str | None,
        service: str | None,
        probe_token: str | None,
    ) -> None:
        self.dedup_key = key
        self.connector = message.connector
        self.source = message.source
        self.destination = destination
        # A binary message has no text: NULL, with its octets in ``binary``.
        text: str | None = message.text if message.binary is None else None
        lossy = message.lossy
        if text is not None and "\x00" in text:
            # PostgreSQL text cannot hold NUL: the commit would fail on every redelivery
            # and the SMSC would retry forever. Keep the message, mark the character.
            text = text.replace("\x00", "\ufffd")
            lossy = True
        self.text = text
        self.binary = message.binary
        self.data_coding = message.data_coding
        self.encoding = message.encoding
        self.parts = message.parts
        self.complete = message.complete
        self.lossy = lossy
        self.smsc_timestamp = message.smsc_timestamp
        self.received_at = message.received_at
        self.message_time = moment
        self.codes_json = codes_json
        self.service = service
        self.probe_token = probe_token
        self.id: int | None = None
        # The body sealed with the key ring (encryption at rest): what the insert stores
        # instead of text, binary and codes, which stay here for the events.
        self.sealed: bytes | None = None
        # An inbound filter holds it out of every inbox (smslocker.screening).
        self.held = False
        self.held_reason: str | None = None
        self.rental_id: str | None = None
        self.account_id: int | None = None
        # A long message's mark, sealed like the body: stored with it (.concat_marks).
        self.concat: SealedMark | None = None
        # The rental is still active (not one ended and in its grace period): its number's
        # first message moves it RESERVED -> IN_USE.
        self.rental_active = False


class Preparer:
    """Turns inbound messages into :class:`PreparedMessage` rows (one per sink)."""

    def __init__(
        self,
        *,
        max_skew_s: float,
        max_age_s: float,
        guess_service: ServiceGuess | None = None,
        extract: bool = True,
        ring: KeyRing | None = None,
    ) -> None:
        """``ring``: seal every body with it (encryption at rest); None stores them clear."""
        self.ring = ring
        self.max_skew = timedelta(seconds=max_skew_s)
        self.max_age = timedelta(seconds=max_age_s)
        self.guess_service = guess_service
        self.extract = extract
        # Extraction by template: the same answers as extract_codes, a fraction of the
        # cost for the texts services send over and over with a new code in them.
        self.extract_codes = CodeExtractor()
        self.untrusted_timestamps = 0

    def prepare(self, message: InboundMessage) -> PreparedMessage:
        destination = normalise_destination(message.destination)
        stamp = message.smsc_timestamp
        if stamp is not None and not timestamp_sane(
            message.received_at, stamp, max_skew=self.max_skew, max_age=self.max_age
        ):
            self.untrusted_timestamps += 1
        moment = message_time(
            message.received_at, stamp, max_skew=self.max_skew, max_age=self.max_age
        )
        key = dedup_key(
            connector=message.connector,
            source=message.source,
            destination=destination,
            data_coding=message.data_coding,
            text=message.text,
            binary=message.binary,
            smsc_timestamp=stamp,
            parts=message.parts,
        )
        text = message.text if message.binary is None else ""
        probe = PROBE_TEXT.search(text) if "smslocker probe" in text else None
        if probe is not None:
            return PreparedMessage(
                message,
                destination=destination,
                key=key,
                moment=moment,
                codes_json=None,
                service=PROBE_SERVICE,
                probe_token=probe.group(1),
            )
        codes = self.extract_codes(text) if text and self.extract else ()
        # "[]": looked, found none. NULL: a binary message (or, later, a purged body).
        found = None if message.binary is not None else encode_codes(codes) if codes else "[]"
        service = self.guess_service(message.source, text, codes) if self.guess_service else None
        prepared = PreparedMessage(
            message,
            destination=destination,
            key=key,
            moment=moment,
            codes_json=found,
            service=service,
            probe_token=None,
        )
        if self.ring is not None:
            prepared.sealed = seal_parts(
                self.ring, prepared.text, prepared.binary, prepared.codes_json
            )
        if message.concat is not None:
            prepared.concat = seal_mark(message.concat, self.ring)
        return prepared
