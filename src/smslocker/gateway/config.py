"""A connector's configuration: where to bind, how, and its timers."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class BindType(StrEnum):
    RECEIVER = "receiver"
    TRANSCEIVER = "transceiver"
    TRANSMITTER = "transmitter"


class ConnectorConfig(BaseModel):
    """One carrier bind. Times are seconds; ``None`` turns a timer off."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    host: str
    port: int = Field(ge=1, le=65535)
    system_id: str = Field(max_length=15)
    password: str = Field(default="", max_length=8)
    bind: BindType = BindType.TRANSCEIVER
    # Bind parameters carriers ask for (SMPP.md §3.1).
    system_type: str = Field(default="", max_length=12)
    interface_version: int = Field(default=0x34, ge=0, le=0xFF)
    addr_ton: int = Field(default=0, ge=0, le=0xFF)
    addr_npi: int = Field(default=0, ge=0, le=0xFF)
    address_range: str = Field(default="", max_length=40)
    # TLS towards the SMSC; ``tls_ca_file`` for a private CA, ``tls_verify`` off for tests only.
    tls: bool = False
    tls_verify: bool = True
    tls_ca_file: str | None = None
    # Timers (SMPP.md §11.4).
    connect_timeout: float = Field(default=10.0, gt=0)
    response_timeout: float = Field(default=10.0, gt=0)
    enquire_link_interval: float | None = Field(default=30.0, gt=0)
    # No deliver_sm for this long although enquire_link answers: rebind ("ghost session").
    ghost_timeout: float | None = Field(default=900.0, gt=0)
    # Reconnect with exponential backoff and jitter, capped.
    reconnect_initial: float = Field(default=1.0, gt=0)
    reconnect_max: float = Field(default=60.0, gt=0)
    # Our submit_sm side: outstanding requests and requests per second (None: unthrottled).
    window: int = Field(default=10, ge=1, le=10_000)
    throttle: float | None = Field(default=None, gt=0)
    # Inbound: PDUs waiting for the sink before new ones get ESME_RTHROTTLED.
    max_unacked: int = Field(default=10_000, ge=1)
    # A part of a long message is acked only when its whole message is safe; a part
    # held this long without its siblings is answered ESME_RX_T_APPN (the SMSC
    # redelivers it later) rather than let the SMSC's response timer expire.
    part_ack_hold: float = Field(default=5.0, gt=0)
    reassembly_timeout: float = Field(default=300.0, gt=0)
    # GSM 7-bit user data arrives packed on this link (a bilateral agreement, SMPP.md §7.1).
    packed_gsm: bool = False
    max_pdu_length: int = Field(default=70_000, ge=16)
