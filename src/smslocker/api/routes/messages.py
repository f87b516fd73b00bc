"""A rental's messages and its newest code, with a server-side wait (long-poll).

``wait`` (seconds, capped at :data:`~smslocker.api.longpoll.MAX_WAIT_S`) holds the
request open until there is something to answer: a message newer than ``after``, or
a code. When the wait runs out the answer is still 200, with no messages
(``"messages": []``) or no code (``"code": null``): nothing went wrong, nothing came
yet, and a client simply asks again. Reads go through :mod:`smslocker.routing.inbox`,
which scopes them to the caller's account (another account's rental is a 404). An
answer that carries messages or a code is audited (``message.read``, via ``messages``
or ``code``: :func:`smslocker.api.guard.message_read`) before it goes out.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from smslocker.accounts import Principal
from smslocker.platform import Platform
from smslocker.routing.inbox import MAX_LIMIT, InboxMessage, LatestCode, latest_code
from smslocker.routing.inbox import rental_messages as inbox_messages
from smslocker.store.types import MAX_BIG_ID

from .. import guard as guard_hooks
from ..auth import User
from ..deps import PlatformDep
from ..longpoll import MAX_WAIT_S, Gone, wait_for
from ..views import LatestCodeOut, MessagePage, iso, messages_json, problems
from .rentals import V1, RentalId, checked_rental_id

router = APIRouter(tags=["messages"])


After = Annotated[int, Query(ge=0, le=MAX_BIG_ID, description="only messages with a larger id")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="at most this many messages")]
Wait = Annotated[
    float,
    Query(
        ge=0,
        allow_inf_nan=False,
        description=f"seconds to wait for one to arrive (long-poll; at most {MAX_WAIT_S:g})",
    ),
]


async def read_messages(
    platform: Platform,
    principal: Principal,
    rental_id: str,
    after: int,
    limit: int,
    wait: float,
    gone: Gone,
) -> dict[str, Any]:
    """The page of messages after ``after``, waiting up to ``wait`` s for the first one."""
    rental_id = checked_rental_id(rental_id)

    async def read() -> list[InboxMessage]:
        return await inbox_messages(
            platform.db,
            principal.account_id,
            rental_id,
            after=after,
            limit=limit,
            ring=platform.keyring,
        )

    messages = await wait_for(platform.bus, f"rental:{rental_id}", read, bool, wait, gone)
    message_ids = [message.id for message in messages]
    await guard_hooks.message_read(platform, principal, rental_id, message_ids)  # audit
    return {
        "messages": messages_json(messages),
        "next_after": messages[-1].id if messages else after,
    }


@router.get(
    V1 + "/rentals/{rental_id}/messages",
    response_model=MessagePage,
    summary="The rental's messages, in arrival order",
    responses=problems(401, 403, 404, 422),
)
async def get_messages(
    request: Request,
    platform: PlatformDep,
    principal: User,
    rental_id: RentalId,
    after: After = 0,
    limit: Limit = 100,
    wait: Wait = 0,
) -> dict[str, Any]:
    """Messages with an id greater than ``after``, oldest first. To follow a rental, pass
    the ``next_after`` of each answer as the next ``after``: no message is missed or
    repeated. With ``wait``, an empty page is only answered once the wait runs out."""
    return await read_messages(
        platform, principal, rental_id, after, limit, wait, request.is_disconnected
    )


@router.get(
    V1 + "/rentals/{rental_id}/code",
    response_model=LatestCodeOut,
    summary="The newest one-time code",
    responses=problems(401, 403, 404, 422),
)
async def get_code(
    request: Request,
    platform: PlatformDep,
    principal: User,
    rental_id: RentalId,
    wait: Wait = 0,
    after: Annotated[
        int, Query(ge=0, le=MAX_BIG_ID, description="only a code of a message after this id")
    ] = 0,
) -> dict[str, Any]:
    """The best code of the newest message that has one. With ``wait``, waits for a code
    to arrive; ``"code": null`` when none did in time (ask again). To wait for a *new*
    code (after a resend), pass the ``message_id`` of the last one as ``after``."""
    rental_id = checked_rental_id(rental_id)

    async def read() -> LatestCode | None:
        found = await latest_code(
            platform.db, principal.account_id, rental_id, ring=platform.keyring
        )
        return found if found is not None and found.message_id > after else None

    found = await wait_for(
        platform.bus,
        f"rental:{rental_id}",
        read,
        lambda code: code is not None,
        wait,
        request.is_disconnected,
    )
    if found is None:
        return {
            "rental_id": rental_id,
            "code": None,
            "candidate": None,
            "message_id": None,
            "source": None,
            "received_at": None,
        }
    await guard_hooks.message_read(platform, principal, rental_id, [found.message_id], via="code")
    return {
        "rental_id": rental_id,
        "code": found.value,
        "candidate": found.code,
        "message_id": found.message_id,
        "source": found.source,
        "received_at": iso(found.received_at),
    }
