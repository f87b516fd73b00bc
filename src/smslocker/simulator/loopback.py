"""Answering what ESMEs submit: the loopback network (SMPP.md §3.5-§3.10, §9).

The simulator is the whole mobile network. A submit_sm (data_sm, submit_multi)
to a destination it serves is accepted with a fresh message_id and comes back
as an MO deliver_sm to that destination, from the submitter's source. When the
MO reaches a final state and registered_delivery asked for it, the submitter's
system_id gets a delivery receipt, preferably on the very session it submitted
on. query_sm, cancel_sm and replace_sm work on these messages while the store
remembers them.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Protocol

from smslocker.smpp.constants import CommandStatus as S
from smslocker.smpp.constants import Tag
from smslocker.smpp.pdu import (
    CancelSm,
    DataSm,
    DestAddress,
    Pdu,
    QuerySm,
    ReplaceSm,
    SubmitMulti,
    SubmitSm,
    UnsuccessfulDelivery,
)
from smslocker.smpp.session import Session
from smslocker.smpp.timestamps import format_smpp_time

from .compose import checked, looped_back, receipt, user_text
from .delivery import Dispatcher
from .errors import InvalidRequest
from .messages import Delivery, DeliveryState, Message, MessageKind, MessageStore

# Message states of query_sm_resp and receipts (SMPP.md §9.3).
ENROUTE, DELIVERED, DELETED, UNDELIVERABLE = 1, 2, 4, 5
_MESSAGE_STATE = {
    DeliveryState.QUEUED: ENROUTE,
    DeliveryState.IN_FLIGHT: ENROUTE,
    DeliveryState.DELIVERED: DELIVERED,
    DeliveryState.CANCELLED: DELETED,
    DeliveryState.FAILED: UNDELIVERABLE,
}
# registered_delivery bits 1-0 (SMPP.md §6.2): 1 any final outcome, 2 failure only,
# 3 success only (SMPP 5.0; reserved in 3.4, and harmless to honour).
_RECEIPT_ON_FAILURE, _RECEIPT_ON_SUCCESS = 2, 3


class Submitter(Protocol):
    """The connection a request came on, as the loopback sees it."""

    @property
    def session(self) -> Session: ...

    @property
    def system_id(self) -> str: ...


class Loopback:
    """Answers an ESME's transmitter-side requests. See the module docstring."""

    def __init__(self, store: MessageStore, dispatcher: Dispatcher, served: str) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.served = re.compile(served)
        self.submitted = 0
        self.receipts = 0

    def handle(self, submitter: Submitter, pdu: Pdu, now: float) -> bool:
        """Answer ``pdu`` if it is a request this module handles; False if it is not."""
        session = submitter.session
        if isinstance(pdu, SubmitSm | DataSm):
            status, message_id = self._submit(submitter, pdu)
            session.respond(pdu, status, now=now, message_id=message_id)
        elif isinstance(pdu, SubmitMulti):
            self._submit_multi(submitter, pdu, now)
        elif isinstance(pdu, QuerySm):
            self._query(session, pdu, now)
        elif isinstance(pdu, CancelSm):
            session.respond(pdu, self._cancel(pdu), now=now)
        elif isinstance(pdu, ReplaceSm):
            session.respond(pdu, self._replace(pdu), now=now)
        else:
            return False
        return True

    # -- submissions -----------------------------------------------------------------

    def _submit(
        self,
        submitter: Submitter,
        pdu: SubmitSm | DataSm | SubmitMulti,
        destination: DestAddress | None = None,
    ) -> tuple[int, str]:
        address = destination.address if destination else getattr(pdu, "destination_addr", "")
        if not self.served.fullmatch(address):
            return S.ESME_RINVDSTADR, ""
        try:
            mo = looped_back(pdu, destination)
        except InvalidRequest:
            # Fits a data_sm (65-octet addresses) but not a deliver_sm (21).
            return S.ESME_RSUBMITFAIL, ""
        message = Message(
            id=self.store.new_id(),
            kind=MessageKind.LOOPBACK,
            source=mo.source_addr,
            destination=mo.destination_addr,
            text=user_text(mo),
            data_coding=mo.data_coding,
            registered_delivery=pdu.registered_delivery,
        )
        message.parts.append(Delivery(message, 1, mo))
        # Always hooked: replace_sm may ask for a receipt later.
        message.on_final = lambda done: self._send_receipt(done, submitter)
        self.store.add(message)
        self.dispatcher.enqueue(message.parts)
        self.submitted += 1
        return S.ESME_ROK, message.id

    def _submit_multi(self, submitter: Submitter, pdu: SubmitMulti, now: float) -> None:
        first_id = ""
        unsuccessful = []
        for destination in pdu.destinations:
            if isinstance(destination, DestAddress):
                status, message_id = self._submit(submitter, pdu, destination)
                first_id = first_id or message_id
                if status == S.ESME_ROK:
                    continue
                unsuccessful.append(
                    UnsuccessfulDelivery(
                        destination.address, status, destination.ton, destination.npi
                    )
                )
            else:
                # Distribution lists live in a real SMSC's provisioning; there are none here.
                unsuccessful.append(UnsuccessfulDelivery(destination.name, S.ESME_RINVDLNAME))
        status = S.ESME_ROK if first_id else S.ESME_RSUBMITFAIL
        submitter.session.respond(
            pdu, status, now=now, message_id=first_id, unsuccessful=tuple(unsuccessful)
        )

    def _send_receipt(self, message: Message, submitter: Submitter) -> None:
        outcome = message.state
        wanted = message.registered_delivery & 0x03
        if (
            not wanted
            or (wanted == _RECEIPT_ON_FAILURE and outcome is DeliveryState.DELIVERED)
            or (wanted == _RECEIPT_ON_SUCCESS and outcome is not DeliveryState.DELIVERED)
        ):
            return
        assert message.done_at is not None
        pdu = receipt(
            message.parts[0].pdu,
            message.id,
            _MESSAGE_STATE[outcome],
            submit_date=message.created_at,
            done_date=message.done_at,
            text=message.text,
        )
        notice = Message(
            id=self.store.new_id(),
            kind=MessageKind.RECEIPT,
            source=pdu.source_addr,
            destination=pdu.destination_addr,
            text=user_text(pdu),
            data_coding=pdu.data_coding,
            system_id=submitter.system_id,
            preferred=submitter,
        )
        notice.parts.append(Delivery(notice, 1, pdu))
        self.store.add(notice)
        self.dispatcher.enqueue(notice.parts)
        self.receipts += 1

    # -- query, cancel, replace ---------------------------------------------------

    def _submitted(self, message_id: str, source_addr: str) -> Message | None:
        """A looped-back message by id; the source must match when the ESME gives one."""
        message = self.store.get(message_id)
        if message is None or message.kind is not MessageKind.LOOPBACK:
            return None
        if source_addr and source_addr != message.parts[0].pdu.source_addr:
            return None
        return message

    def _query(self, session: Session, pdu: QuerySm, now: float) -> None:
        message = self._submitted(pdu.message_id, pdu.source_addr)
        if message is None:
            session.respond(pdu, S.ESME_RQUERYFAIL, now=now, message_id=pdu.message_id)
            return
        final_date = format_smpp_time(message.done_at) if message.done_at else ""
        session.respond(
            pdu,
            now=now,
            message_id=message.id,
            final_date=final_date,
            message_state=_MESSAGE_STATE[message.state],
            error_code=0,
        )

    def _cancel(self, pdu: CancelSm) -> int:
        if pdu.message_id:
            message = self._submitted(pdu.message_id, pdu.source_addr)
            if message is None:
                return S.ESME_RINVMSGID
            targets = [message]
        else:
            # No message_id: every pending message from source to destination (SMPP 3.4 §4.9).
            targets = [
                message
                for message in self.store.values()
                if message.kind is MessageKind.LOOPBACK
                and not message.final
                and message.source == pdu.source_addr
                and message.destination == pdu.destination_addr
            ]
        cancelled = [self.dispatcher.cancel(part) for message in targets for part in message.parts]
        # Only a message not yet sent to its receiver can be withdrawn.
        return S.ESME_ROK if any(cancelled) else S.ESME_RCANCELFAIL

    def _replace(self, pdu: ReplaceSm) -> int:
        message = self._submitted(pdu.message_id, pdu.source_addr)
        if message is None:
            return S.ESME_RINVMSGID
        part = message.parts[0]
        if part.state is not DeliveryState.QUEUED:
            return S.ESME_RREPLACEFAIL
        try:
            part.pdu = checked(
                replace(
                    part.pdu,
                    short_message=pdu.short_message,
                    tlvs=tuple(t for t in part.pdu.tlvs if t.tag != Tag.MESSAGE_PAYLOAD),
                )
            )
        except InvalidRequest:
            return S.ESME_RREPLACEFAIL
        message.text = user_text(part.pdu)
        message.registered_delivery = pdu.registered_delivery
        return S.ESME_ROK
