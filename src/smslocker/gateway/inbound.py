"""From a received deliver_sm/data_sm to what the sink gets.

Kept apart from the asyncio protocol so that it can be tested without a socket,
and so that the hot path — a one-part message, no UDH, no TLVs — is visible in
one place: it skips the reassembler entirely.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from smslocker.smpp import tlv
from smslocker.smpp.concat import CompletedMessage, Reassembler, ReassemblyKey, Segment
from smslocker.smpp.constants import Tag
from smslocker.smpp.pdu import DataSm, DeliverSm
from smslocker.smpp.receipts import is_receipt, parse_receipt
from smslocker.smpp.records import DeliverSmRecord
from smslocker.smpp.text import GSM7_ASCII_ALIKE, decode_gsm7, decode_text
from smslocker.smpp.timestamps import parse_smsc_timestamp

from .messages import InboundMessage, InboundReceipt, one_part_fields

_RECEIPT_MESSAGE_TYPES = 0x3C
_UDHI = 0x40
_RECEIPT_OR_UDHI = _RECEIPT_MESSAGE_TYPES | _UDHI
_new = object.__new__
_set = object.__setattr__


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
        # The fields of a one-part GSM message, for the hot path (see one_part_fields()), and
        # the same with received_at set: made again for each read (its messages share it).
        self._one_part = one_part_fields(connector)
        self._one_part_received: dict[str, object] = {}
        self._one_part_received_at: datetime | None = None

    def decode_records(
        self, records: Sequence[DeliverSmRecord], received_at: datetime
    ) -> list[InboundMessage]:
        """The messages of the ordinary one-part SMS that ``records`` starts with.

        An ordinary SMS is a deliver_sm without TLVs (a record, see
        :mod:`smslocker.smpp.records`), UDH or receipt bits, on a link without
        packed GSM: nearly every message, and most reads are made only of them.
        Decoding a read's worth in one call, rather than one :meth:`decode` per
        PDU, is the connector's hot path. The list stops before the first record
        that is not one (a receipt, a part, ...): the caller takes the rest
        through :meth:`decode`.

        The messages are made as :func:`~.messages.one_part_fields` explains.
        """
        messages: list[InboundMessage] = []
        if self.packed:
            return messages
        if received_at is not self._one_part_received_at:
            # The messages of one read share received_at: it goes in the template.
            self._one_part_received = self._one_part.copy()
            self._one_part_received["received_at"] = received_at
            self._one_part_received_at = received_at
        template = self._one_part_received
        append = messages.append
        for (
            _sequence_number,
            source_ton,
            _source_npi,
            source,
            destination_ton,
            _destination_npi,
            destination,
            esm_class,
            data_coding,
            short_message,
        ) in records:
            if esm_class & _RECEIPT_OR_UDHI:
                break
            fields = template.copy()
            fields["source"] = source
            fields["destination"] = destination
            fields["source_ton"] = source_ton
            fields["destination_ton"] = destination_ton
            if data_coding == 0:
                # decode_text(short_message, 0) without a call per message, for most texts
                # (see GSM7_ASCII_ALIKE); data_coding 0 and encoding "gsm7" are in the
                # template already.
                if 1 in short_message.translate(GSM7_ASCII_ALIKE):
                    fields["text"], lossy = decode_gsm7(short_message)
                    if lossy:
                        fields["lossy"] = True
                else:
                    fields["text"] = short_message.decode("ascii")
            else:
                decoded = decode_text(short_message, data_coding)
                fields["text"] = decoded.text
                fields["data_coding"] = data_coding
                fields["encoding"] = decoded.encoding
                fields["binary"] = decoded.binary
                if decoded.lossy:
                    fields["lossy"] = True
            message: InboundMessage = _new(InboundMessage)
            _set(message, "__dict__", fields)
            append(message)
        return messages

    def decode(self, pdu: DeliverSm | DataSm, now: float, received_at: datetime) -> Outcome:
        """Classify one PDU. Raises DecodeError only for a malformed standard TLV."""
        tlvs = pdu.tlvs
        esm_class = pdu.esm_class
        if type(pdu) is DeliverSm and not tlvs and not esm_class & _RECEIPT_OR_UDHI:
            plain = self.decode_records((record_of(pdu),), received_at)
            if plain:
                if pdu.schedule_delivery_time:
                    return replace(plain[0], smsc_timestamp=self._smsc_timestamp(pdu))
                return plain[0]
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
            concat=completed.mark,
        )

    @staticmethod
    def _smsc_timestamp(pdu: DeliverSm | DataSm) -> datetime | None:
        # SMPP 3.4 has no SCTS field in deliver_sm, and schedule_delivery_time must be
        # NULL there (SMPP.md §3.5); SMSCs that do pass the SCTS put it in that field.
        if isinstance(pdu, DeliverSm) and pdu.schedule_delivery_time:
            return parse_smsc_timestamp(pdu.schedule_delivery_time)
        return None


def record_of(pdu: DeliverSm) -> DeliverSmRecord:
    """The record of ``pdu``'s fields that a message is made of (the others are ignored)."""
    return (
        pdu.sequence_number,
        pdu.source_addr_ton,
        pdu.source_addr_npi,
        pdu.source_addr,
        pdu.dest_addr_ton,
        pdu.dest_addr_npi,
        pdu.destination_addr,
        pdu.esm_class,
        pdu.data_coding,
        pdu.short_message,
    )


__all__ = ["Assembled", "Duplicate", "InboundDecoder", "Outcome", "Pending", "record_of"]
