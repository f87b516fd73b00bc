"""SMPP 3.4 PDUs as frozen dataclasses (SMPP.md §1-§4); :mod:`.codec` has their bytes.

Theory of operation: every PDU class declares its mandatory body as a
``_layout`` — the wire order of its fields with each field's kind and maximum
size — and one generic encoder and decoder (:mod:`.codec`) walk that layout.  The layout is
data, so the hypothesis round-trip tests can build every PDU from it too.
TLVs are kept as raw ``Tlv(tag, value)`` pairs in wire order, so that unknown
and vendor tags survive a decode/encode untouched; :mod:`.tlv` types them on
demand.  A command_id we do not know decodes to :class:`UnknownPdu` rather than
raising, so that the session can answer generic_nack and stay up.

Strings are decoded as Latin-1: every byte maps to one character, so a peer
that puts non-ASCII octets in an address cannot make us raise, and
``decode(encode(p)) == p`` holds for anything that encodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from .constants import RESPONSE_BIT, CommandId
from .constants import CommandStatus as S

# Field kinds in a ``_layout``.
U8: Final = 1
U16: Final = 2
U32: Final = 3
CSTR: Final = 4  # C-Octet String, size = maximum length including the NUL
TIME: Final = 5  # C-Octet String of 1 or 17 octets (SMPP.md §10)
SM: Final = 6  # sm_length (I1) followed by short_message of that many octets
DESTS: Final = 7  # submit_multi destinations: number_of_dests then dest_flag entries
UNSUCCESS: Final = 8  # submit_multi_resp: no_unsuccess then failed destinations

#: A field of a layout: (attribute name, kind, size, status to answer when it is malformed)
Layout = tuple[tuple[str, int, int, int], ...]

MAX_SHORT_MESSAGE = 254


@dataclass(frozen=True, slots=True)
class Tlv:
    """One optional parameter as it was on the wire: tag and raw value octets."""

    tag: int
    value: bytes


@dataclass(frozen=True, slots=True)
class DestAddress:
    """A submit_multi destination with dest_flag 1 (an SME address)."""

    address: str
    ton: int = 0
    npi: int = 0


@dataclass(frozen=True, slots=True)
class DistributionList:
    """A submit_multi destination with dest_flag 2 (a distribution list name)."""

    name: str


@dataclass(frozen=True, slots=True)
class UnsuccessfulDelivery:
    """One failed destination in submit_multi_resp."""

    address: str
    error_status_code: int
    ton: int = 0
    npi: int = 0


@dataclass(frozen=True, kw_only=True)
class Pdu:
    """Fields every PDU has. ``command_id`` is a class constant of each subclass."""

    command_id: ClassVar[int] = -1
    _layout: ClassVar[Layout] = ()
    sequence_number: int = 0
    command_status: int = 0
    tlvs: tuple[Tlv, ...] = ()

    @property
    def is_response(self) -> bool:
        return bool(self.command_id & RESPONSE_BIT)


def _bind_layout() -> Layout:
    return (
        ("system_id", CSTR, 16, S.ESME_RINVSYSID),
        ("password", CSTR, 9, S.ESME_RINVPASWD),
        ("system_type", CSTR, 13, S.ESME_RINVSYSTYP),
        ("interface_version", U8, 0, S.ESME_RINVMSGLEN),
        ("addr_ton", U8, 0, S.ESME_RINVMSGLEN),
        ("addr_npi", U8, 0, S.ESME_RINVMSGLEN),
        ("address_range", CSTR, 41, S.ESME_RINVMSGLEN),
    )


_SYSTEM_ID_ONLY: Layout = (("system_id", CSTR, 16, S.ESME_RINVSYSID),)
_MESSAGE_ID_ONLY: Layout = (("message_id", CSTR, 65, S.ESME_RINVMSGID),)


@dataclass(frozen=True, kw_only=True)
class _Bind(Pdu):
    _layout: ClassVar[Layout] = _bind_layout()
    system_id: str = ""
    password: str = ""
    system_type: str = ""
    interface_version: int = 0x34
    addr_ton: int = 0
    addr_npi: int = 0
    address_range: str = ""


@dataclass(frozen=True, kw_only=True)
class BindReceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER


@dataclass(frozen=True, kw_only=True)
class BindTransmitter(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER


@dataclass(frozen=True, kw_only=True)
class BindTransceiver(_Bind):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER


@dataclass(frozen=True, kw_only=True)
class _BindResp(Pdu):
    _layout: ClassVar[Layout] = _SYSTEM_ID_ONLY
    system_id: str = ""


@dataclass(frozen=True, kw_only=True)
class BindReceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_RECEIVER_RESP


@dataclass(frozen=True, kw_only=True)
class BindTransmitterResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSMITTER_RESP


@dataclass(frozen=True, kw_only=True)
class BindTransceiverResp(_BindResp):
    command_id: ClassVar[int] = CommandId.BIND_TRANSCEIVER_RESP


@dataclass(frozen=True, kw_only=True)
class Outbind(Pdu):
    command_id: ClassVar[int] = CommandId.OUTBIND
    _layout: ClassVar[Layout] = (
        ("system_id", CSTR, 16, S.ESME_RINVSYSID),
        ("password", CSTR, 9, S.ESME_RINVPASWD),
    )
    system_id: str = ""
    password: str = ""


@dataclass(frozen=True, kw_only=True)
class GenericNack(Pdu):
    command_id: ClassVar[int] = CommandId.GENERIC_NACK


@dataclass(frozen=True, kw_only=True)
class Unbind(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND


@dataclass(frozen=True, kw_only=True)
class UnbindResp(Pdu):
    command_id: ClassVar[int] = CommandId.UNBIND_RESP


@dataclass(frozen=True, kw_only=True)
class EnquireLink(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK


@dataclass(frozen=True, kw_only=True)
class EnquireLinkResp(Pdu):
    command_id: ClassVar[int] = CommandId.ENQUIRE_LINK_RESP


def _addresses_layout(address_size: int) -> Layout:
    """service_type to esm_class: how submit_sm, deliver_sm and data_sm all begin.

    The addresses are C(21) in submit_sm and deliver_sm, C(65) in data_sm (SMPP.md §3.5, §3.7).
    """
    return (
        ("service_type", CSTR, 6, S.ESME_RINVSERTYP),
        ("source_addr_ton", U8, 0, S.ESME_RINVSRCTON),
        ("source_addr_npi", U8, 0, S.ESME_RINVSRCNPI),
        ("source_addr", CSTR, address_size, S.ESME_RINVSRCADR),
        ("dest_addr_ton", U8, 0, S.ESME_RINVDSTTON),
        ("dest_addr_npi", U8, 0, S.ESME_RINVDSTNPI),
        ("destination_addr", CSTR, address_size, S.ESME_RINVDSTADR),
        ("esm_class", U8, 0, S.ESME_RINVESMCLASS),
    )


def _sm_layout() -> Layout:
    return (
        *_addresses_layout(21),
        ("protocol_id", U8, 0, S.ESME_RINVMSGLEN),
        ("priority_flag", U8, 0, S.ESME_RINVPRTFLG),
        ("schedule_delivery_time", TIME, 17, S.ESME_RINVSCHED),
        ("validity_period", TIME, 17, S.ESME_RINVEXPIRY),
        ("registered_delivery", U8, 0, S.ESME_RINVREGDLVFLG),
        ("replace_if_present_flag", U8, 0, S.ESME_RINVREPFLAG),
        ("data_coding", U8, 0, S.ESME_RINVMSGLEN),
        ("sm_default_msg_id", U8, 0, S.ESME_RINVDFTMSGID),
        ("short_message", SM, MAX_SHORT_MESSAGE, S.ESME_RINVMSGLEN),
    )


@dataclass(frozen=True, kw_only=True)
class _Addressed(Pdu):
    """The fields submit_sm, deliver_sm and data_sm all begin with (:func:`_addresses_layout`)."""

    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""
    esm_class: int = 0


@dataclass(frozen=True, kw_only=True)
class _ShortMessage(_Addressed):
    """The 18-field body shared by submit_sm and deliver_sm (SMPP.md §3.5)."""

    _layout: ClassVar[Layout] = _sm_layout()
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, kw_only=True)
class SubmitSm(_ShortMessage):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM


@dataclass(frozen=True, kw_only=True)
class DeliverSm(_ShortMessage):
    command_id: ClassVar[int] = CommandId.DELIVER_SM


@dataclass(frozen=True, kw_only=True)
class _MessageIdResp(Pdu):
    _layout: ClassVar[Layout] = _MESSAGE_ID_ONLY
    message_id: str = ""


@dataclass(frozen=True, kw_only=True)
class SubmitSmResp(_MessageIdResp):
    command_id: ClassVar[int] = CommandId.SUBMIT_SM_RESP


@dataclass(frozen=True, kw_only=True)
class DeliverSmResp(_MessageIdResp):
    """message_id is unused here: a single NUL goes on the wire (SMPP.md §3.6)."""

    command_id: ClassVar[int] = CommandId.DELIVER_SM_RESP


@dataclass(frozen=True, kw_only=True)
class DataSmResp(_MessageIdResp):
    command_id: ClassVar[int] = CommandId.DATA_SM_RESP


@dataclass(frozen=True, kw_only=True)
class DataSm(_Addressed):
    """User data travels only in the message_payload TLV (SMPP.md §3.7)."""

    command_id: ClassVar[int] = CommandId.DATA_SM
    _layout: ClassVar[Layout] = (
        *_addresses_layout(65),
        ("registered_delivery", U8, 0, S.ESME_RINVREGDLVFLG),
        ("data_coding", U8, 0, S.ESME_RINVMSGLEN),
    )
    registered_delivery: int = 0
    data_coding: int = 0


@dataclass(frozen=True, kw_only=True)
class AlertNotification(Pdu):
    command_id: ClassVar[int] = CommandId.ALERT_NOTIFICATION
    # Kannel and smpplib use 21 for source_addr; the spec says 65: accept 65 (SMPP.md §3.8).
    _layout: ClassVar[Layout] = (
        ("source_addr_ton", U8, 0, S.ESME_RINVSRCTON),
        ("source_addr_npi", U8, 0, S.ESME_RINVSRCNPI),
        ("source_addr", CSTR, 65, S.ESME_RINVSRCADR),
        ("esme_addr_ton", U8, 0, S.ESME_RINVDSTTON),
        ("esme_addr_npi", U8, 0, S.ESME_RINVDSTNPI),
        ("esme_addr", CSTR, 65, S.ESME_RINVDSTADR),
    )
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    esme_addr_ton: int = 0
    esme_addr_npi: int = 0
    esme_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class QuerySm(Pdu):
    command_id: ClassVar[int] = CommandId.QUERY_SM
    _layout: ClassVar[Layout] = (
        ("message_id", CSTR, 65, S.ESME_RINVMSGID),
        ("source_addr_ton", U8, 0, S.ESME_RINVSRCTON),
        ("source_addr_npi", U8, 0, S.ESME_RINVSRCNPI),
        ("source_addr", CSTR, 21, S.ESME_RINVSRCADR),
    )
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class QuerySmResp(Pdu):
    command_id: ClassVar[int] = CommandId.QUERY_SM_RESP
    _layout: ClassVar[Layout] = (
        ("message_id", CSTR, 65, S.ESME_RINVMSGID),
        ("final_date", TIME, 17, S.ESME_RINVMSGLEN),
        ("message_state", U8, 0, S.ESME_RINVMSGLEN),
        ("error_code", U8, 0, S.ESME_RINVMSGLEN),
    )
    message_id: str = ""
    final_date: str = ""
    message_state: int = 0
    error_code: int = 0


@dataclass(frozen=True, kw_only=True)
class CancelSm(Pdu):
    command_id: ClassVar[int] = CommandId.CANCEL_SM
    # Kannel allows destination_addr up to 65 here (SMPP.md §3.10).
    _layout: ClassVar[Layout] = (
        ("service_type", CSTR, 6, S.ESME_RINVSERTYP),
        ("message_id", CSTR, 65, S.ESME_RINVMSGID),
        ("source_addr_ton", U8, 0, S.ESME_RINVSRCTON),
        ("source_addr_npi", U8, 0, S.ESME_RINVSRCNPI),
        ("source_addr", CSTR, 21, S.ESME_RINVSRCADR),
        ("dest_addr_ton", U8, 0, S.ESME_RINVDSTTON),
        ("dest_addr_npi", U8, 0, S.ESME_RINVDSTNPI),
        ("destination_addr", CSTR, 65, S.ESME_RINVDSTADR),
    )
    service_type: str = ""
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    dest_addr_ton: int = 0
    dest_addr_npi: int = 0
    destination_addr: str = ""


@dataclass(frozen=True, kw_only=True)
class CancelSmResp(Pdu):
    command_id: ClassVar[int] = CommandId.CANCEL_SM_RESP


@dataclass(frozen=True, kw_only=True)
class ReplaceSm(Pdu):
    command_id: ClassVar[int] = CommandId.REPLACE_SM
    _layout: ClassVar[Layout] = (
        ("message_id", CSTR, 65, S.ESME_RINVMSGID),
        ("source_addr_ton", U8, 0, S.ESME_RINVSRCTON),
        ("source_addr_npi", U8, 0, S.ESME_RINVSRCNPI),
        ("source_addr", CSTR, 21, S.ESME_RINVSRCADR),
        ("schedule_delivery_time", TIME, 17, S.ESME_RINVSCHED),
        ("validity_period", TIME, 17, S.ESME_RINVEXPIRY),
        ("registered_delivery", U8, 0, S.ESME_RINVREGDLVFLG),
        ("sm_default_msg_id", U8, 0, S.ESME_RINVDFTMSGID),
        ("short_message", SM, MAX_SHORT_MESSAGE, S.ESME_RINVMSGLEN),
    )
    message_id: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, kw_only=True)
class ReplaceSmResp(Pdu):
    command_id: ClassVar[int] = CommandId.REPLACE_SM_RESP


@dataclass(frozen=True, kw_only=True)
class SubmitMulti(Pdu):
    command_id: ClassVar[int] = CommandId.SUBMIT_MULTI
    _layout: ClassVar[Layout] = (
        ("service_type", CSTR, 6, S.ESME_RINVSERTYP),
        ("source_addr_ton", U8, 0, S.ESME_RINVSRCTON),
        ("source_addr_npi", U8, 0, S.ESME_RINVSRCNPI),
        ("source_addr", CSTR, 21, S.ESME_RINVSRCADR),
        ("destinations", DESTS, 254, S.ESME_RINVNUMDESTS),
        *_sm_layout()[7:],
    )
    service_type: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    source_addr: str = ""
    destinations: tuple[DestAddress | DistributionList, ...] = ()
    esm_class: int = 0
    protocol_id: int = 0
    priority_flag: int = 0
    schedule_delivery_time: str = ""
    validity_period: str = ""
    registered_delivery: int = 0
    replace_if_present_flag: int = 0
    data_coding: int = 0
    sm_default_msg_id: int = 0
    short_message: bytes = b""


@dataclass(frozen=True, kw_only=True)
class SubmitMultiResp(Pdu):
    command_id: ClassVar[int] = CommandId.SUBMIT_MULTI_RESP
    _layout: ClassVar[Layout] = (
        ("message_id", CSTR, 65, S.ESME_RINVMSGID),
        ("unsuccessful", UNSUCCESS, 254, S.ESME_RINVMSGLEN),
    )
    message_id: str = ""
    unsuccessful: tuple[UnsuccessfulDelivery, ...] = ()


@dataclass(frozen=True, kw_only=True)
class UnknownPdu(Pdu):
    """A PDU whose command_id we do not know; kept whole so it can be answered."""

    unknown_command_id: int = 0
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return bool(self.unknown_command_id & RESPONSE_BIT)


PDU_CLASSES: Final[tuple[type[Pdu], ...]] = (
    GenericNack,
    BindReceiver,
    BindReceiverResp,
    BindTransmitter,
    BindTransmitterResp,
    BindTransceiver,
    BindTransceiverResp,
    Outbind,
    Unbind,
    UnbindResp,
    EnquireLink,
    EnquireLinkResp,
    SubmitSm,
    SubmitSmResp,
    DeliverSm,
    DeliverSmResp,
    DataSm,
    DataSmResp,
    QuerySm,
    QuerySmResp,
    CancelSm,
    CancelSmResp,
    ReplaceSm,
    ReplaceSmResp,
    SubmitMulti,
    SubmitMultiResp,
    AlertNotification,
)

CLASS_BY_COMMAND_ID: Final[dict[int, type[Pdu]]] = {cls.command_id: cls for cls in PDU_CLASSES}

#: request class -> its response class; outbind and alert_notification have none.
RESPONSE_CLASS: Final[dict[type[Pdu], type[Pdu]]] = {
    cls: CLASS_BY_COMMAND_ID[cls.command_id | RESPONSE_BIT]
    for cls in PDU_CLASSES
    if not cls.command_id & RESPONSE_BIT and (cls.command_id | RESPONSE_BIT) in CLASS_BY_COMMAND_ID
}


def response_to(request: Pdu, status: int = 0, **fields: object) -> Pdu | None:
    """The response PDU answering ``request`` (same sequence_number), or None if it has none.

    A request whose command_id we do not know is answered with generic_nack
    (SMPP.md §11.6), whatever ``status`` says.
    """
    if isinstance(request, UnknownPdu):
        return GenericNack(sequence_number=request.sequence_number, command_status=S.ESME_RINVCMDID)
    response_class = RESPONSE_CLASS.get(type(request))
    if response_class is None:
        return None
    return response_class(
        sequence_number=request.sequence_number,
        command_status=status,
        **fields,  # type: ignore[arg-type]
    )
