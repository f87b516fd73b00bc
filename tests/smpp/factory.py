"""A small PDU factory for tests (STYLE habit 6).

Each function builds one PDU with sensible defaults taken from the worked
examples of SMPP.md; keyword overrides replace any field. ``text`` is put in
short_message as ASCII (data_coding 0) when it can be, otherwise as UCS2
(UTF-16BE, data_coding 8): enough for tests, and independent of
:mod:`smslocker.smpp.text` on purpose.
"""

from __future__ import annotations

from typing import Any

from smslocker.smpp.codec import encode
from smslocker.smpp.constants import INTERFACE_VERSION_34, DataCoding, EsmClass, Npi, Tag, Ton
from smslocker.smpp.pdu import (
    BindReceiver,
    BindReceiverResp,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    DestAddress,
    DistributionList,
    EnquireLink,
    GenericNack,
    Outbind,
    Pdu,
    SubmitMulti,
    SubmitSm,
    SubmitSmResp,
    Tlv,
    Unbind,
)

#: bind kind -> (request class, response class)
BIND_CLASSES: dict[str, tuple[type[Pdu], type[Pdu]]] = {
    "transmitter": (BindTransmitter, BindTransmitterResp),
    "receiver": (BindReceiver, BindReceiverResp),
    "transceiver": (BindTransceiver, BindTransceiverResp),
}


def text_body(text: str) -> tuple[bytes, int]:
    """short_message octets and data_coding for ``text``."""
    try:
        return text.encode("ascii"), DataCoding.SMSC_DEFAULT
    except UnicodeEncodeError:
        return text.encode("utf-16-be"), DataCoding.UCS2


def bind(
    kind: str = "transceiver",
    *,
    system_id: str = "test",
    password: str = "pw",
    interface_version: int = INTERFACE_VERSION_34,
    **overrides: Any,
) -> Pdu:
    request_class, _ = BIND_CLASSES[kind]
    return request_class(
        system_id=system_id,
        password=password,
        interface_version=interface_version,
        **overrides,
    )


def bind_resp(
    kind: str = "transceiver",
    *,
    system_id: str = "SMSC",
    sc_interface_version: int | None = INTERFACE_VERSION_34,
    **overrides: Any,
) -> Pdu:
    _, response_class = BIND_CLASSES[kind]
    tlvs = (
        ()
        if sc_interface_version is None
        else (Tlv(Tag.SC_INTERFACE_VERSION, bytes((sc_interface_version,))),)
    )
    overrides.setdefault("tlvs", tlvs)
    return response_class(system_id=system_id, **overrides)


def submit_sm(
    text: str = "Hi",
    *,
    source: str = "Shop",
    destination: str = "447700900123",
    **overrides: Any,
) -> SubmitSm:
    short_message, data_coding = text_body(text)
    fields: dict[str, Any] = {
        "source_addr_ton": Ton.ALPHANUMERIC,
        "source_addr_npi": Npi.UNKNOWN,
        "source_addr": source,
        "dest_addr_ton": Ton.INTERNATIONAL,
        "dest_addr_npi": Npi.ISDN,
        "destination_addr": destination,
        "registered_delivery": 1,
        "data_coding": data_coding,
        "short_message": short_message,
    }
    fields.update(overrides)
    return SubmitSm(**fields)


def deliver_sm(
    text: str = "Your code is 123456",
    *,
    source: str = "447700900123",
    destination: str = "447700900999",
    **overrides: Any,
) -> DeliverSm:
    short_message, data_coding = text_body(text)
    fields: dict[str, Any] = {
        "source_addr_ton": Ton.INTERNATIONAL,
        "source_addr_npi": Npi.ISDN,
        "source_addr": source,
        "dest_addr_ton": Ton.INTERNATIONAL,
        "dest_addr_npi": Npi.ISDN,
        "destination_addr": destination,
        "data_coding": data_coding,
        "short_message": short_message,
    }
    fields.update(overrides)
    return DeliverSm(**fields)


def receipt(
    message_id: str = "5F2A01",
    *,
    state: int = 2,
    source: str = "447700900123",
    destination: str = "Shop",
    **overrides: Any,
) -> DeliverSm:
    """A delivery receipt: esm_class 0x04, text and the receipted_message_id/message_state TLVs."""
    text = (
        f"id:{message_id} sub:001 dlvrd:001 submit date:2401151230 done date:2401151231 "
        "stat:DELIVRD err:000 text:Hi"
    )
    overrides.setdefault(
        "tlvs",
        (
            Tlv(Tag.RECEIPTED_MESSAGE_ID, message_id.encode("latin-1") + b"\x00"),
            Tlv(Tag.MESSAGE_STATE, bytes((state,))),
        ),
    )
    overrides.setdefault("esm_class", EsmClass.DELIVERY_RECEIPT)
    return deliver_sm(text, source=source, destination=destination, **overrides)


def submit_sm_resp(message_id: str = "5F2A01", **overrides: Any) -> SubmitSmResp:
    return SubmitSmResp(message_id=message_id, **overrides)


def deliver_sm_resp(**overrides: Any) -> DeliverSmResp:
    return DeliverSmResp(**overrides)


def data_sm(
    payload: bytes = b"Hello",
    *,
    source: str = "447700900123",
    destination: str = "447700900999",
    **overrides: Any,
) -> DataSm:
    overrides.setdefault("tlvs", (Tlv(Tag.MESSAGE_PAYLOAD, payload),))
    return DataSm(source_addr=source, destination_addr=destination, **overrides)


def submit_multi(
    text: str = "Hi all",
    *,
    source: str = "Shop",
    destinations: tuple[DestAddress | DistributionList, ...] = (
        DestAddress("447700900123", Ton.INTERNATIONAL, Npi.ISDN),
        DistributionList("friends"),
    ),
    **overrides: Any,
) -> SubmitMulti:
    short_message, data_coding = text_body(text)
    overrides.setdefault("data_coding", data_coding)
    return SubmitMulti(
        source_addr=source, destinations=destinations, short_message=short_message, **overrides
    )


def enquire_link(sequence_number: int = 1) -> EnquireLink:
    return EnquireLink(sequence_number=sequence_number)


def unbind(sequence_number: int = 1) -> Unbind:
    return Unbind(sequence_number=sequence_number)


def generic_nack(status: int, sequence_number: int = 0) -> GenericNack:
    return GenericNack(sequence_number=sequence_number, command_status=status)


def outbind(system_id: str = "SMSC", password: str = "pw", **overrides: Any) -> Outbind:
    return Outbind(system_id=system_id, password=password, **overrides)


def wire(*pdus: Pdu) -> bytes:
    """The PDUs' bytes back to back, as they would travel on one connection."""
    return b"".join(encode(pdu) for pdu in pdus)
