"""Numbers from the SMPP 3.4 specification (SMPP.md §2, §4, §5, §6).

Plain ``IntEnum``s so that values compare equal to the integers on the wire;
decoders keep integers as they came (an unknown status or TLV tag is data,
not an error), and these names are for humans and for building PDUs.
"""

from __future__ import annotations

from enum import IntEnum

RESPONSE_BIT = 0x80000000
MAX_SEQUENCE_NUMBER = 0x7FFFFFFF
HEADER_LENGTH = 16
INTERFACE_VERSION_34 = 0x34


class CommandId(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    QUERY_SM = 0x00000003
    QUERY_SM_RESP = 0x80000003
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    REPLACE_SM = 0x00000007
    REPLACE_SM_RESP = 0x80000007
    CANCEL_SM = 0x00000008
    CANCEL_SM_RESP = 0x80000008
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    OUTBIND = 0x0000000B
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015
    SUBMIT_MULTI = 0x00000021
    SUBMIT_MULTI_RESP = 0x80000021
    ALERT_NOTIFICATION = 0x00000102
    DATA_SM = 0x00000103
    DATA_SM_RESP = 0x80000103


class CommandStatus(IntEnum):
    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


def status_name(status: int) -> str:
    """The symbolic name of a command_status, or its hex value if it has none."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


class Tag(IntEnum):
    """Standard SMPP 3.4 TLV tags (SMPP.md §4.1)."""

    DEST_ADDR_SUBUNIT = 0x0005
    DEST_NETWORK_TYPE = 0x0006
    DEST_BEARER_TYPE = 0x0007
    DEST_TELEMATICS_ID = 0x0008
    SOURCE_ADDR_SUBUNIT = 0x000D
    SOURCE_NETWORK_TYPE = 0x000E
    SOURCE_BEARER_TYPE = 0x000F
    SOURCE_TELEMATICS_ID = 0x0010
    QOS_TIME_TO_LIVE = 0x0017
    PAYLOAD_TYPE = 0x0019
    ADDITIONAL_STATUS_INFO_TEXT = 0x001D
    RECEIPTED_MESSAGE_ID = 0x001E
    MS_MSG_WAIT_FACILITIES = 0x0030
    PRIVACY_INDICATOR = 0x0201
    SOURCE_SUBADDRESS = 0x0202
    DEST_SUBADDRESS = 0x0203
    USER_MESSAGE_REFERENCE = 0x0204
    USER_RESPONSE_CODE = 0x0205
    SOURCE_PORT = 0x020A
    DESTINATION_PORT = 0x020B
    SAR_MSG_REF_NUM = 0x020C
    LANGUAGE_INDICATOR = 0x020D
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    CALLBACK_NUM_PRES_IND = 0x0302
    CALLBACK_NUM_ATAG = 0x0303
    NUMBER_OF_MESSAGES = 0x0304
    CALLBACK_NUM = 0x0381
    DPF_RESULT = 0x0420
    SET_DPF = 0x0421
    MS_AVAILABILITY_STATUS = 0x0422
    NETWORK_ERROR_CODE = 0x0423
    MESSAGE_PAYLOAD = 0x0424
    DELIVERY_FAILURE_REASON = 0x0425
    MORE_MESSAGES_TO_SEND = 0x0426
    MESSAGE_STATE = 0x0427
    USSD_SERVICE_OP = 0x0501
    DISPLAY_TIME = 0x1201
    SMS_SIGNAL = 0x1203
    MS_VALIDITY = 0x1204
    ALERT_ON_MESSAGE_DELIVERY = 0x130C
    ITS_REPLY_TYPE = 0x1380
    ITS_SESSION_INFO = 0x1383


class TlvKind(IntEnum):
    """How a TLV's value is typed (SMPP.md §4.1 "Len" and "Value" columns)."""

    INT = 1  # unsigned big-endian integer of the lengths in TLV_SIZES
    CSTRING = 2  # NUL-terminated, the NUL counted in the length
    OCTETS = 3  # raw bytes
    FLAG = 4  # presence is the value; no octets (alert_on_message_delivery in 3.4)


#: tag -> (kind, allowed value lengths for INT; maximum length for CSTRING/OCTETS)
TLV_SPECS: dict[int, tuple[TlvKind, tuple[int, ...]]] = {
    Tag.DEST_ADDR_SUBUNIT: (TlvKind.INT, (1,)),
    Tag.DEST_NETWORK_TYPE: (TlvKind.INT, (1,)),
    Tag.DEST_BEARER_TYPE: (TlvKind.INT, (1,)),
    Tag.DEST_TELEMATICS_ID: (TlvKind.INT, (2,)),
    Tag.SOURCE_ADDR_SUBUNIT: (TlvKind.INT, (1,)),
    Tag.SOURCE_NETWORK_TYPE: (TlvKind.INT, (1,)),
    Tag.SOURCE_BEARER_TYPE: (TlvKind.INT, (1,)),
    # Kannel's table says 1 octet, Wireshark/node-smpp/smpplib say 2: accept both (SMPP.md §4.1).
    Tag.SOURCE_TELEMATICS_ID: (TlvKind.INT, (1, 2)),
    Tag.QOS_TIME_TO_LIVE: (TlvKind.INT, (4,)),
    Tag.PAYLOAD_TYPE: (TlvKind.INT, (1,)),
    Tag.ADDITIONAL_STATUS_INFO_TEXT: (TlvKind.CSTRING, (256,)),
    Tag.RECEIPTED_MESSAGE_ID: (TlvKind.CSTRING, (65,)),
    Tag.MS_MSG_WAIT_FACILITIES: (TlvKind.INT, (1,)),
    Tag.PRIVACY_INDICATOR: (TlvKind.INT, (1,)),
    Tag.SOURCE_SUBADDRESS: (TlvKind.OCTETS, (23,)),
    Tag.DEST_SUBADDRESS: (TlvKind.OCTETS, (23,)),
    Tag.USER_MESSAGE_REFERENCE: (TlvKind.INT, (2,)),
    Tag.USER_RESPONSE_CODE: (TlvKind.INT, (1,)),
    Tag.SOURCE_PORT: (TlvKind.INT, (2,)),
    Tag.DESTINATION_PORT: (TlvKind.INT, (2,)),
    Tag.SAR_MSG_REF_NUM: (TlvKind.INT, (2,)),
    Tag.LANGUAGE_INDICATOR: (TlvKind.INT, (1,)),
    Tag.SAR_TOTAL_SEGMENTS: (TlvKind.INT, (1,)),
    Tag.SAR_SEGMENT_SEQNUM: (TlvKind.INT, (1,)),
    Tag.SC_INTERFACE_VERSION: (TlvKind.INT, (1,)),
    Tag.CALLBACK_NUM_PRES_IND: (TlvKind.INT, (1,)),
    Tag.CALLBACK_NUM_ATAG: (TlvKind.OCTETS, (65,)),
    Tag.NUMBER_OF_MESSAGES: (TlvKind.INT, (1,)),
    Tag.CALLBACK_NUM: (TlvKind.OCTETS, (19,)),
    Tag.DPF_RESULT: (TlvKind.INT, (1,)),
    Tag.SET_DPF: (TlvKind.INT, (1,)),
    Tag.MS_AVAILABILITY_STATUS: (TlvKind.INT, (1,)),
    Tag.NETWORK_ERROR_CODE: (TlvKind.OCTETS, (3,)),
    Tag.MESSAGE_PAYLOAD: (TlvKind.OCTETS, (65535,)),
    Tag.DELIVERY_FAILURE_REASON: (TlvKind.INT, (1,)),
    Tag.MORE_MESSAGES_TO_SEND: (TlvKind.INT, (1,)),
    Tag.MESSAGE_STATE: (TlvKind.INT, (1,)),
    Tag.USSD_SERVICE_OP: (TlvKind.INT, (1,)),
    Tag.DISPLAY_TIME: (TlvKind.INT, (1,)),
    Tag.SMS_SIGNAL: (TlvKind.INT, (2,)),
    Tag.MS_VALIDITY: (TlvKind.INT, (1,)),
    # 3.4 defines no value; 5.0 allows one octet, so accept both (SMPP.md §4.1, §12.2).
    Tag.ALERT_ON_MESSAGE_DELIVERY: (TlvKind.FLAG, (0, 1)),
    Tag.ITS_REPLY_TYPE: (TlvKind.INT, (1,)),
    Tag.ITS_SESSION_INFO: (TlvKind.INT, (2,)),
}

VENDOR_TAG_RANGE = range(0x1400, 0x4000)


class EsmClass:
    """Bits of esm_class (SMPP.md §6.1). Test bits, never equality."""

    MESSAGE_TYPE_MASK = 0x3C
    DELIVERY_RECEIPT = 0x04
    SME_DELIVERY_ACK = 0x08
    SME_MANUAL_ACK = 0x10
    INTERMEDIATE_NOTIFICATION = 0x20
    UDHI = 0x40
    REPLY_PATH = 0x80


class DataCoding:
    """data_coding values that the stack names (SMPP.md §7)."""

    SMSC_DEFAULT = 0x00
    IA5 = 0x01
    BINARY = 0x02
    LATIN1 = 0x03
    BINARY_04 = 0x04
    CYRILLIC = 0x06
    HEBREW = 0x07
    UCS2 = 0x08


class Ton:
    UNKNOWN = 0
    INTERNATIONAL = 1
    NATIONAL = 2
    NETWORK_SPECIFIC = 3
    SUBSCRIBER = 4
    ALPHANUMERIC = 5
    ABBREVIATED = 6


class Npi:
    UNKNOWN = 0
    ISDN = 1
