"""Moving stored bodies to the primary key: after a rotation, or when encryption is turned on.

:func:`reencrypt` walks the messages by id in chunks, each chunk one short write
transaction (ingest goes on between them): a body sealed with another key is opened and
sealed again with the primary; a body still in clear (stored while encryption was off)
is sealed and its clear columns emptied. Purged bodies stay purged. Running it twice
changes nothing the second time; once it has run, the old keys can be dropped from the
key file (``smslocker privacy drop-key``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select, update

from smslocker.store.db import Database
from smslocker.store.models import Message

from .bodies import CONTEXT, seal_body
from .keyring import KeyRing

CHUNK = 500


@dataclass(frozen=True, slots=True)
class ReencryptCounts:
    resealed: int
    """Bodies moved from an older key to the primary."""
    sealed: int
    """Bodies that were in clear and are now sealed."""


async def reencrypt(db: Database, ring: KeyRing, *, chunk: int = CHUNK) -> ReencryptCounts:
    """Seal every stored body with ``ring``'s primary key; see the module docstring."""
    resealed = sealed = 0
    after = 0
    while True:
        done, after = await db.run_write(
            partial(_chunk, ring=ring, after=after, chunk=chunk), bulk=True
        )
        resealed += done["resealed"]
        sealed += done["sealed"]
        if after < 0:
            return ReencryptCounts(resealed, sealed)


def _chunk(
    connection: Connection, ring: KeyRing, after: int, chunk: int
) -> tuple[Counter[str], int]:
    rows = connection.execute(
        select(Message.id, Message.sealed, Message.text, Message.binary, Message.codes)
        .where(
            Message.id > after,
            Message.body_purged_at.is_(None),
            or_(
                Message.sealed.is_not(None),
                Message.text.is_not(None),
                Message.binary.is_not(None),
            ),
        )
        .order_by(Message.id)
        .limit(chunk)
    ).all()
    done: Counter[str] = Counter()
    updates: list[dict[str, Any]] = []
    for row in rows:
        if row.sealed is not None:
            if KeyRing.key_id_of(row.sealed) == ring.primary:
                continue
            blob = ring.seal(ring.open(row.sealed, CONTEXT), CONTEXT)
            done["resealed"] += 1
        else:
            blob = seal_body(ring, row.text, row.binary, row.codes)
            done["sealed"] += 1
        updates.append({"message": row.id, "blob": blob})
    if updates:
        connection.execute(
            update(Message)
            .where(Message.id == bindparam("message"))
            .values(sealed=bindparam("blob"), text=None, binary=None, codes=None),
            updates,
        )
    return done, (rows[-1].id if len(rows) == chunk else -1)


__all__ = ["CHUNK", "ReencryptCounts", "reencrypt"]
