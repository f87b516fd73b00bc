"""The marks of stored long messages: kept with each batch, read back by a starting gateway.

Why: a long message's parts are acknowledged together, after the commit that stored the
message. A gateway killed between the two (or whose acknowledgements were partly lost
with the link) leaves the SMSC to redeliver some parts, maybe only one, to the gateway
that starts next. That one's reassembler never saw the message: a lone part would start
a set of its own and wait for siblings the SMSC will not send again (they were
acknowledged), answered "try later" over and over until the reassembly timeout, and then
come out as a fragment of a message the renter already has. With the marks of what was
stored lately, the reassembler knows those parts for echoes
(:meth:`~smslocker.smpp.concat.Reassembler.recall`) and they are acknowledged at once.

A mark is written in the transaction that stores its message (so a mark exists exactly
when the message does), for every long message of the batch, duplicates included: the
mark of a message stored long ago may have aged out of the recall window. The parts'
fingerprints are sealed with the key ring when bodies are (digests of short texts can be
guessed back); retention deletes the marks with the bodies.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import Connection, delete, insert, select

from smslocker.log import get_logger
from smslocker.privacy.keyring import KeyRing, SealError
from smslocker.smpp.concat import ConcatMark
from smslocker.store import Database
from smslocker.store.models import StoredConcat

if TYPE_CHECKING:
    from .prepare import PreparedMessage

log = get_logger(__name__)

#: Authenticated data of every sealed mark: a blob sealed for something else does not open.
CONTEXT = b"smslocker/concat-mark/v1"
_FINGERPRINT = 16


class SealedMark(NamedTuple):
    """A mark as ingest stores it: the fingerprints joined, sealed or not."""

    mark: ConcatMark
    blob: bytes
    sealed: bool


def seal_mark(mark: ConcatMark, ring: KeyRing | None) -> SealedMark:
    joined = b"".join(mark.fingerprints)
    if ring is None:
        return SealedMark(mark, joined, False)
    return SealedMark(mark, ring.seal(joined, CONTEXT), True)


def _values(rows: Sequence[PreparedMessage], now: datetime) -> list[dict[str, Any]]:
    values = []
    for row in rows:
        if row.concat is None:
            continue
        mark, blob, sealed = row.concat
        connector, source, destination, reference, total, kind = mark.reference
        values.append(
            {
                "connector": connector,
                "source": source,
                "destination": destination,
                "reference": reference,
                "total": total,
                "kind": kind,
                "fingerprints": blob,
                "sealed": sealed,
                "stored_at": now,
            }
        )
    return values


def record(connection: Connection, rows: Sequence[PreparedMessage], now: datetime) -> None:
    """Keep the marks of ``rows``' long messages, in ``connection``'s transaction."""
    values = _values(rows, now)
    if values:
        connection.execute(insert(StoredConcat), values)


async def recall(
    db: Database, connector: str, since: datetime, ring: KeyRing | None
) -> list[ConcatMark]:
    """The marks stored through ``connector`` since ``since``, oldest first.

    A mark that does not open (its key dropped, damaged) is left out: its parts are then
    treated as before there were marks, which delays them but loses nothing.
    """
    query = (
        select(
            StoredConcat.source,
            StoredConcat.destination,
            StoredConcat.reference,
            StoredConcat.total,
            StoredConcat.kind,
            StoredConcat.fingerprints,
            StoredConcat.sealed,
        )
        .where(StoredConcat.connector == connector, StoredConcat.stored_at >= since)
        .order_by(StoredConcat.stored_at, StoredConcat.id)
    )
    async with db.read() as connection:
        found = (await connection.execute(query)).all()
    marks = []
    unusable = 0
    for source, destination, reference, total, kind, blob, sealed in found:
        try:
            joined = _open(blob, sealed, ring)
        except SealError:
            unusable += 1
            continue
        if len(joined) != total * _FINGERPRINT:
            unusable += 1
            continue
        fingerprints = tuple(
            joined[start : start + _FINGERPRINT] for start in range(0, len(joined), _FINGERPRINT)
        )
        marks.append(
            ConcatMark((connector, source, destination, reference, total, kind), fingerprints)
        )
    if unusable:
        log.warning("ingest.concat_marks_unusable", connector=connector, marks=unusable)
    return marks


def _open(blob: bytes, sealed: bool, ring: KeyRing | None) -> bytes:
    if not sealed:
        return blob
    if ring is None:
        raise SealError("a sealed mark and no key ring")
    return ring.open(blob, CONTEXT)


async def purge(db: Database, before: datetime) -> int:
    """Delete the marks stored before ``before``; returns how many."""
    async with db.write() as connection:
        result = await connection.execute(
            delete(StoredConcat).where(StoredConcat.stored_at < before)
        )
    return int(result.rowcount)


__all__ = ["CONTEXT", "SealedMark", "purge", "recall", "record", "seal_mark"]
