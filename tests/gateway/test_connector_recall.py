"""A gateway that starts again after a crash acknowledges the redelivered parts of a long
message its predecessor stored (Connector + StoreSink + the marks of smslocker.routing)."""

from __future__ import annotations

from fake_smsc import FakeSmsc
from gateway_support import make_config, running, udh_parts, wait_until
from sqlalchemy import func, select

from smslocker.gateway import Connector
from smslocker.routing.ingest import StoreSink
from smslocker.settings import IngestSettings
from smslocker.smpp.constants import CommandStatus as S
from smslocker.store import Database
from smslocker.store.models import Message


async def count(db: Database) -> int:
    async with db.read() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Message)) or 0)


async def test_a_lone_part_after_a_restart_is_acked_at_once(
    smsc: FakeSmsc, database: Database
) -> None:
    first, second, third = udh_parts(["Your code is ", "123456", ", valid 5 minutes"], 0x2A)
    before = Connector(make_config(smsc.port), StoreSink(database, IngestSettings()))
    async with running(before):
        await before.wait_bound(2)
        sent = smsc.deliver(first, second, third)
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 3)
    assert await count(database) == 1
    # The process died before its last acknowledgement went out, say: the SMSC sends the
    # last part again, alone, to the gateway that starts next (nothing in its memory).
    after = Connector(make_config(smsc.port), StoreSink(database, IngestSettings()))
    async with running(after):
        await after.wait_bound(2)
        again = smsc.deliver(third)
        await wait_until(lambda: len(smsc.answers_to(again, 1)) == 1)
        [answer] = smsc.answers_to(again, 1)
        assert answer.status == S.ESME_ROK
    assert await count(database) == 1


async def test_a_new_message_reusing_the_reference_still_comes_through(
    smsc: FakeSmsc, database: Database
) -> None:
    old = udh_parts(["Your code is ", "123456", ", valid 5 minutes"], 0x2A)
    new = udh_parts(["Your code is ", "654321", ", valid 5 minutes"], 0x2A)
    before = Connector(make_config(smsc.port), StoreSink(database, IngestSettings()))
    async with running(before):
        await before.wait_bound(2)
        sent = smsc.deliver(*old)
        await wait_until(lambda: len(smsc.answers_to(sent, 0)) == 3)
    after = Connector(make_config(smsc.port), StoreSink(database, IngestSettings()))
    async with running(after):
        await after.wait_bound(2)
        # The new message's middle part differs; its sender then moves on to a third
        # message with the reference, which lets the second out (Reassembler's rules).
        sent = smsc.deliver(*new)
        newer = udh_parts(["Hello ", "there", " again"], 0x2A)
        sent += smsc.deliver(newer[1])
        await wait_until(lambda: len(smsc.answers_to(sent[:3], 1)) == 3, timeout=5)
    assert await count(database) == 2
