"""From a received deliver_sm/data_sm to what the sink gets.

Kept apart from the asyncio protocol so that it can be tested without a socket,
and so that the hot path — a one-part message, no UDH, no TLVs — is visible in
one place: it skips the reassembler entirely.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from smslocker.smpp import tlv
from smslocker.smpp.concat import CompletedMessage, Reassembler, ReassemblyKey, Segment
from smslocker.smpp.constants import Tag
from smslocker.smpp.pdu import DataSm, DeliverSm
from smslocker.smpp.receipts import is_receipt, parse_receipt
from smslocker.smpp.text import decode_text
from smslocker.smpp.timestamps import parse_smsc_timestamp

from .messages import InboundMessage, InboundReceipt

_RECEIPT_MESSAGE_TYPES = 0x3C
_UDHI = 0x40


@dataclass(frozen=True, slots=True)
class Pending:
    """A part of a long message whose siblings have not all arrived; ``key`` names the set."""

    key: ReassemblyKey


@dataclass(frozen=True, slots=True)
class Assembled:
    """The last missing part of a long message arrived: here is the whole of it."""

    message: InboundMessage
    key: ReassemblyKey


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A part we already hold (or whose message we already passed on): a redelivery.

    ``stored`` says its message is safe (a sink accepted it), so the part may be acked
    at once; otherwise it must wait for its message like any other part.
    """

    key: ReassemblyKey
    stored: bool


Outcome = InboundMessage | InboundReceipt | Assembled | Pending | Duplicate


class InboundDecoder:
    """Turns received PDUs into messages, receipts, or parts to hold (one per connector)."""

    def __init__(self, connector: str, reassembler: Reassembler, *, packed: bool = False) -> None:
        self.connector = connector
        self.reassembler = reassembler
        self.packed = packed
        # Long messages not known to be stored: waiting for parts, or with a sink that has
        # not answered yet. A redelivered part of one of them is no "already safe"
        # duplicate. Kept here, per connector, not per connection: after a reconnect the
        # reassembler still holds the parts of the old link, and acking their redelivery
        # at once acked parts of a message nobody had stored (found by the adversity
        # tests: a long message lost when its sink call then failed).
        self._unsettled: set[ReassemblyKey] = set()

    def decode(self, pdu: DeliverSm | DataSm, now: float, received_at: datetime) -> Outcome:
        """Classify one PDU. Raises DecodeError only for a malformed standard TLV."""
        tlvs = pdu.tlvs
        esm_class = pdu.esm_class
        if (
            not tlvs
            and type(pdu) is DeliverSm
            and not esm_class & (_RECEIPT_MESSAGE_TYPES | _UDHI)
            and not self.packed
        ):
            # The hot path: an ordinary one-part SMS.
            decoded = decode_text(pdu.short_message, pdu.data_coding)
            return InboundMessage(
                self.connector,
                pdu.source_addr,
                pdu.destination_addr,
                decoded.text,
                pdu.data_coding,
                decoded.encoding,
                received_at,
                self._smsc_timestamp(pdu),
                binary=decoded.binary,
                lossy=decoded.lossy,
                source_ton=pdu.source_addr_ton,
                destination_ton=pdu.dest_addr_ton,
            )
        payload = tlv.find(tlvs, Tag.MESSAGE_PAYLOAD)
        receipted_id = tlv.get_str(tlvs, Tag.RECEIPTED_MESSAGE_ID)
        message_state = tlv.get_int(tlvs, Tag.MESSAGE_STATE)
        short_message = pdu.short_message if isinstance(pdu, DeliverSm) else b""
        if is_receipt(esm_class, receipted_id is not None, message_state is not None):
            user_data = payload if payload is not None else short_message
            receipt = parse_receipt(
                # Receipt texts are ASCII in practice; Latin-1 never fails.
                user_data.decode("latin-1"),
                receipted_message_id=receipted_id,
                message_state=message_state,
                network_error_code=tlv.find(tlvs, Tag.NETWORK_ERROR_CODE),
                source=pdu.source_addr,
                destination=pdu.destination_addr,
            )
            return InboundReceipt(self.connector, receipt, received_at)
        segment = Segment(
            source=pdu.source_addr,
            destination=pdu.destination_addr,
            esm_class=esm_class,
            data_coding=pdu.data_coding,
            short_message=short_message,
            message_payload=payload,
            sar_msg_ref_num=tlv.get_int(tlvs, Tag.SAR_MSG_REF_NUM),
            sar_total_segments=tlv.get_int(tlvs, Tag.SAR_TOTAL_SEGMENTS),
            sar_segment_seqnum=tlv.get_int(tlvs, Tag.SAR_SEGMENT_SEQNUM),
            source_ton=pdu.source_addr_ton,
            destination_ton=pdu.dest_addr_ton,
            origin=self.connector,
        )
        filed = self.reassembler.file(segment, now)
        key = filed.key
        if filed.message is not None:
            message = self.message_from(filed.message, received_at, self._smsc_timestamp(pdu))
            if key is None:
                return message
            self._unsettled.add(key)
            return Assembled(message, key)
        assert key is not None
        if filed.duplicate:
            return Duplicate(key, stored=key not in self._unsettled)
        self._unsettled.add(key)
        return Pending(key)

    def settle(self, key: ReassemblyKey, *, stored: bool) -> None:
        """The sink answered for the long message ``key`` (assembled or expired).

        Not stored: the reassembler forgets it, so that the SMSC's redelivery of every
        part makes the message again rather than be taken for duplicates.
        """
        self._unsettled.discard(key)
        if not stored:
            self.reassembler.forget(key)

    def message_from(
        self,
        completed: CompletedMessage,
        received_at: datetime,
        smsc_timestamp: datetime | None = None,
    ) -> InboundMessage:
        return InboundMessage(
            self.connector,
            completed.source,
            completed.destination,
            completed.text,
            completed.data_coding,
            completed.encoding,
            received_at,
            smsc_timestamp,
            parts=completed.parts,
            complete=completed.complete,
            missing=completed.missing,
            binary=completed.binary,
            lossy=completed.lossy,
            source_ton=completed.source_ton,
            destination_ton=completed.destination_ton,
            concat_error=completed.concat_error,
        )

    @staticmethod
    def _smsc_timestamp(pdu: DeliverSm | DataSm) -> datetime | None:
        # SMPP 3.4 has no SCTS field in deliver_sm, and schedule_delivery_time must be
        # NULL there (SMPP.md §3.5); SMSCs that do pass the SCTS put it in that field.
        if isinstance(pdu, DeliverSm) and pdu.schedule_delivery_time:
            return parse_smsc_timestamp(pdu.schedule_delivery_time)
        return None


__all__ = ["Assembled", "Duplicate", "InboundDecoder", "Outcome", "Pending"]
