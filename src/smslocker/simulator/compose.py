"""Building the deliver_sm PDUs the simulator sends: MO messages and receipts.

Every PDU built here is encoded once on the spot, so a value SMPP cannot carry
(an address too long, a payload too big) is refused when the message is
injected, with a clear error, and never later inside a session.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from smslocker.smpp.codec import encode
from smslocker.smpp.concat import SplitMethod, split_message, split_udh
from smslocker.smpp.constants import EsmClass, Npi, Tag, Ton
from smslocker.smpp.errors import DecodeError, LocalProtocolError
from smslocker.smpp.pdu import DataSm, DeliverSm, DestAddress, SubmitMulti, SubmitSm, Tlv
from smslocker.smpp.receipts import MESSAGE_STATES, format_receipt_text
from smslocker.smpp.text import decode_text, gsm7_encode, gsm7_fits
from smslocker.smpp.tlv import find, make_int, make_octets, make_str

from .errors import InvalidRequest

SPLIT_METHODS: tuple[SplitMethod, ...] = ("udh8", "udh16", "sar", "payload")

#: TLVs of a submit_sm/data_sm that describe its user data and so travel with it.
_USER_DATA_TAGS = frozenset(
    {
        Tag.MESSAGE_PAYLOAD,
        Tag.SAR_MSG_REF_NUM,
        Tag.SAR_TOTAL_SEGMENTS,
        Tag.SAR_SEGMENT_SEQNUM,
        Tag.SOURCE_PORT,
        Tag.DESTINATION_PORT,
    }
)


def address(value: str) -> tuple[str, int, int]:
    """(address, TON, NPI): digits (a leading + dropped) are international E.164,
    anything else an alphanumeric sender id (SMPP.md §6.4)."""
    digits = value[1:] if value.startswith("+") else value
    if digits.isascii() and digits.isdigit():
        return digits, Ton.INTERNATIONAL, Npi.ISDN
    return value, Ton.ALPHANUMERIC, Npi.UNKNOWN


def checked(pdu: DeliverSm) -> DeliverSm:
    """``pdu``, after making sure it encodes; :class:`InvalidRequest` otherwise."""
    try:
        encode(pdu)
    except LocalProtocolError as error:
        raise InvalidRequest(str(error)) from None
    return pdu


def mo_parts(
    source: str,
    destination: str,
    text: str,
    data_coding: int | None,
    split: SplitMethod,
    reference: int,
) -> tuple[int, list[DeliverSm]]:
    """The deliver_sm of one MO message, in part order, and the data_coding used."""
    try:
        coding, segments = split_message(text, split, reference, data_coding)
    except LocalProtocolError as error:
        raise InvalidRequest(str(error)) from None
    source_addr, source_ton, source_npi = address(source)
    destination_addr, destination_ton, destination_npi = address(destination)
    parts = []
    for segment in segments:
        tlvs: list[Tlv] = []
        if segment.sar is not None:
            reference_number, total, number = segment.sar
            tlvs += [
                make_int(Tag.SAR_MSG_REF_NUM, reference_number),
                make_int(Tag.SAR_TOTAL_SEGMENTS, total),
                make_int(Tag.SAR_SEGMENT_SEQNUM, number),
            ]
        if segment.message_payload is not None:
            tlvs.append(make_octets(Tag.MESSAGE_PAYLOAD, segment.message_payload))
        pdu = DeliverSm(
            source_addr=source_addr,
            source_addr_ton=source_ton,
            source_addr_npi=source_npi,
            destination_addr=destination_addr,
            dest_addr_ton=destination_ton,
            dest_addr_npi=destination_npi,
            esm_class=EsmClass.UDHI if segment.esm_class_udhi else 0,
            data_coding=coding,
            short_message=segment.short_message,
            tlvs=tuple(tlvs),
        )
        parts.append(checked(pdu))
    return coding, parts


def looped_back(
    request: SubmitSm | DataSm | SubmitMulti, destination: DestAddress | None = None
) -> DeliverSm:
    """A submit_sm, data_sm or submit_multi (to ``destination``) turned around into
    the MO its destination receives.

    The user data is passed on untouched (UDH, SAR TLVs, message_payload), so a
    long message arrives in as many parts as it was submitted in.
    """
    if destination is None:
        assert not isinstance(request, SubmitMulti)
        destination = DestAddress(
            request.destination_addr, request.dest_addr_ton, request.dest_addr_npi
        )
    return checked(
        DeliverSm(
            source_addr=request.source_addr,
            source_addr_ton=request.source_addr_ton,
            source_addr_npi=request.source_addr_npi,
            destination_addr=destination.address,
            dest_addr_ton=destination.ton,
            dest_addr_npi=destination.npi,
            esm_class=request.esm_class & EsmClass.UDHI,
            data_coding=request.data_coding,
            short_message=b"" if isinstance(request, DataSm) else request.short_message,
            tlvs=tuple(tlv for tlv in request.tlvs if tlv.tag in _USER_DATA_TAGS),
        )
    )


def user_text(pdu: DeliverSm) -> str:
    """The readable text of one deliver_sm's user data, UDH removed (for the store)."""
    payload = find(pdu.tlvs, Tag.MESSAGE_PAYLOAD)
    data = payload if payload is not None else pdu.short_message
    if pdu.esm_class & EsmClass.UDHI:
        # A malformed UDH is shown as sent: the store is for people reading it.
        with contextlib.suppress(DecodeError):
            data = split_udh(data)[1]
    return decode_text(data, pdu.data_coding).text


def receipt(
    original: DeliverSm,
    message_id: str,
    message_state: int,
    *,
    submit_date: datetime,
    done_date: datetime,
    text: str,
) -> DeliverSm:
    """The delivery receipt for a looped-back message (SMPP.md §9): from the
    handset (the original destination) to the original sender, with the text
    layout of §9.2 and the receipted_message_id and message_state TLVs of §9.3."""
    state_word = MESSAGE_STATES[message_state]
    # The receipt is sent in GSM 03.38; characters it lacks become "?" in the quote.
    quoted = "".join(char if gsm7_fits(char) else "?" for char in text[:20])
    body = format_receipt_text(
        message_id,
        state_word,
        submit_date=submit_date,
        done_date=done_date,
        error=0 if state_word == "DELIVRD" else 1,
        text=quoted,
    )
    return checked(
        DeliverSm(
            source_addr=original.destination_addr,
            source_addr_ton=original.dest_addr_ton,
            source_addr_npi=original.dest_addr_npi,
            destination_addr=original.source_addr,
            dest_addr_ton=original.source_addr_ton,
            dest_addr_npi=original.source_addr_npi,
            esm_class=EsmClass.DELIVERY_RECEIPT,
            data_coding=0,
            short_message=gsm7_encode(body),
            tlvs=(
                make_str(Tag.RECEIPTED_MESSAGE_ID, message_id),
                make_int(Tag.MESSAGE_STATE, message_state),
            ),
        )
    )
