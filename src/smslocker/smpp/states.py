"""What may happen in each state of an SMPP session, per role and direction (SMPP.md §11):
``(state, command_id) -> next state`` tables, which :class:`~.session.Session` enforces.
A pair missing from a table is not allowed."""

from __future__ import annotations

from enum import Enum
from typing import Final

from .constants import RESPONSE_BIT
from .constants import CommandId as C


class Role(Enum):
    ESME = "esme"
    SMSC = "smsc"


class State(Enum):
    OPEN = "open"
    BOUND_TX = "bound_tx"
    BOUND_RX = "bound_rx"
    BOUND_TRX = "bound_trx"
    UNBOUND = "unbound"
    CLOSED = "closed"


OPEN, TX, RX, TRX, UNBOUND, CLOSED = State
BOUND_STATES: Final = frozenset({TX, RX, TRX})

#: The bound state each bind request leads to once answered with success.
BIND_STATE: Final[dict[int, State]] = {
    C.BIND_TRANSMITTER: TX,
    C.BIND_RECEIVER: RX,
    C.BIND_TRANSCEIVER: TRX,
    C.BIND_TRANSMITTER_RESP: TX,
    C.BIND_RECEIVER_RESP: RX,
    C.BIND_TRANSCEIVER_RESP: TRX,
}

#: The three bind requests.
BIND_REQUESTS = (C.BIND_TRANSMITTER, C.BIND_RECEIVER, C.BIND_TRANSCEIVER)
_BIND_RESPS = tuple(C(c | RESPONSE_BIT) for c in BIND_REQUESTS)
_BOTH_WAYS = (C.ENQUIRE_LINK, C.GENERIC_NACK)
#: Requests an ESME sends to the SMSC on a transmitter side (SMPP.md §2).
_ESME_TX_REQUESTS = (
    C.SUBMIT_SM,
    C.SUBMIT_MULTI,
    C.DATA_SM,
    C.QUERY_SM,
    C.CANCEL_SM,
    C.REPLACE_SM,
)
#: Requests an SMSC sends to the ESME on a receiver side.
_SMSC_RX_REQUESTS = (C.DELIVER_SM, C.DATA_SM, C.ALERT_NOTIFICATION)


def _table(rows: dict[State, tuple[int, ...]]) -> dict[tuple[State, int], State]:
    """Expand "in state S these commands are allowed" rows; unbind leads to UNBOUND."""
    table: dict[tuple[State, int], State] = {}
    for state, commands in rows.items():
        for command in commands:
            table[state, command] = UNBOUND if command == C.UNBIND else state
    return table


# Requests (and generic_nack) a side may SEND in each state; bind_*_resp are added below.
SEND_TABLE: Final[dict[Role, dict[tuple[State, int], State]]] = {
    Role.ESME: _table(
        {
            OPEN: (*BIND_REQUESTS, C.ENQUIRE_LINK, C.GENERIC_NACK),
            TX: (*_ESME_TX_REQUESTS, *_BOTH_WAYS, C.UNBIND),
            RX: (*_BOTH_WAYS, C.UNBIND),
            TRX: (*_ESME_TX_REQUESTS, *_BOTH_WAYS, C.UNBIND),
            UNBOUND: (C.GENERIC_NACK,),
        }
    ),
    Role.SMSC: _table(
        {
            OPEN: (C.OUTBIND, C.ENQUIRE_LINK, C.GENERIC_NACK),
            TX: (*_BOTH_WAYS, C.UNBIND),
            RX: (*_SMSC_RX_REQUESTS, *_BOTH_WAYS, C.UNBIND),
            TRX: (*_SMSC_RX_REQUESTS, *_BOTH_WAYS, C.UNBIND),
            UNBOUND: (C.GENERIC_NACK,),
        }
    ),
}
# The SMSC binds the session by answering a bind with success.
SEND_TABLE[Role.SMSC].update({(OPEN, resp): BIND_STATE[resp] for resp in _BIND_RESPS})

# Requests a side may RECEIVE in each state; the ESME's bind_*_resp are added below.
RECEIVE_TABLE: Final[dict[Role, dict[tuple[State, int], State]]] = {
    Role.ESME: _table(
        {
            # Many SMSCs answer enquire_link before a bind (SMPP 5.0 allows it).
            OPEN: (C.OUTBIND, C.ENQUIRE_LINK),
            TX: (C.ENQUIRE_LINK, C.UNBIND),
            RX: (*_SMSC_RX_REQUESTS, C.ENQUIRE_LINK, C.UNBIND),
            TRX: (*_SMSC_RX_REQUESTS, C.ENQUIRE_LINK, C.UNBIND),
            UNBOUND: (C.ENQUIRE_LINK,),
        }
    ),
    Role.SMSC: _table(
        {
            OPEN: (*BIND_REQUESTS, C.ENQUIRE_LINK),
            TX: (*_ESME_TX_REQUESTS, C.ENQUIRE_LINK, C.UNBIND),
            # data_sm from an ESME needs TX/TRX; RX may only keep the link alive.
            RX: (C.ENQUIRE_LINK, C.UNBIND),
            TRX: (*_ESME_TX_REQUESTS, C.ENQUIRE_LINK, C.UNBIND),
            UNBOUND: (C.ENQUIRE_LINK,),
        }
    ),
}
RECEIVE_TABLE[Role.ESME].update({(OPEN, resp): BIND_STATE[resp] for resp in _BIND_RESPS})
