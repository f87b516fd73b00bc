"""A publisher in a process of its own, for the cross-process push test.

    python push_peer.py RENTAL_ID TEXT

(with ``SMSLOCKER_DATABASE_URL`` and ``SMSLOCKER_REDIS_URL`` set) ingests one SMS to
the rental's number through the real StoreSink, then publishes its
``message.received`` event on the Redis bus with
:func:`smslocker.delivery.events.publish`, as a gateway process does; prints the
message's id.
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import select

from smslocker.api.views import message_json
from smslocker.delivery import events
from smslocker.gateway.messages import InboundMessage
from smslocker.platform import open_platform
from smslocker.routing.inbox import rental_messages
from smslocker.routing.ingest import StoreSink
from smslocker.settings import Settings
from smslocker.store.models import Rental


async def main(rental_id: str, text: str) -> None:
    platform = await open_platform(Settings(), migrate=False)
    sink = StoreSink(platform.db, platform.settings.ingest, clock=platform.clock)
    try:
        async with platform.db.read() as connection:
            rental = (
                await connection.execute(
                    select(Rental.number, Rental.account_id).where(Rental.id == rental_id)
                )
            ).one()
        await sink.accept(
            [
                InboundMessage(
                    connector="peer",
                    source="447700900001",
                    destination=rental.number.lstrip("+"),
                    text=text,
                    data_coding=0,
                    encoding="gsm7",
                    received_at=platform.now(),
                )
            ]
        )
        (message,) = await rental_messages(
            platform.db, rental.account_id, rental_id, ring=platform.keyring
        )
        event = events.message_event(rental.account_id, rental_id, message_json(message))
        await events.publish(platform.bus, [event])
        print(message.id, flush=True)
    finally:
        await sink.close()
        await platform.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
