"""Push: a rental's (or a whole account's) events over WebSocket and Server-Sent Events.

Routes: ``/api/v1/rentals/{id}/ws`` and ``/api/v1/rentals/{id}/events`` for one rental,
``/api/v1/ws`` and ``/api/v1/events`` for every rental of the caller's account, and the
short form ``/ws/connect?session_id=<rental id>``. The key comes as
``Authorization: Bearer`` or, for browsers, ``?access_token=``.

Theory of operation (:func:`stream_events`): subscribe to the bus channel *first*
(``rental:<id>`` or ``account:<id>``), then read the backlog from the inbox (messages
after ``after``, or the SSE ``Last-Event-ID``; a rental stream starts with all of the
rental's messages, an account stream with none unless asked), then pass on live events.
A message committed before the subscription is in the backlog, one committed after it
comes live, and one in both is sent once: messages are told apart by id. When the bus
says events may have been missed (an ``overflow`` or ``reconnected`` marker), the inbox
is read again from the last message sent. Frames carry the bus event's JSON as it is
(``{"type": "message.received", "rental_id", "message": {...}}``, ``rental.*``); two
more frames say how the stream is: ``{"type": "ready"}`` (SSE: a ``: ready`` comment)
once the backlog is sent and live events flow, and ``{"type": "ping"}`` (SSE: a
``: ping`` comment) after :data:`HEARTBEAT_S` of quiet, which keeps proxies from closing
the stream and lets the client notice a dead link.

Every message a stream sends is audited (``message.read``, via ``websocket`` or ``sse``:
:class:`smslocker.api.guard.PushedReads`): the backlog as one read once it went out,
then each live message after its frame was sent, written by a task of the stream's own
so that the next frame never waits for the database.

A WebSocket is accepted and then, when it cannot be served, closed with a code a
browser can read: 4401 (no or bad key), 4403 (account suspended), 4404 (no such rental
in this account), 1011 (the bus or the database failed), 1001 (the server is stopping).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, WebSocket
from sqlalchemy import select
from starlette.responses import StreamingResponse
from starlette.websockets import WebSocketDisconnect, WebSocketState

from smslocker import rentals
from smslocker.accounts import Principal
from smslocker.delivery.bus import MARKER_CHANNEL, Event
from smslocker.delivery.events import (
    MESSAGE_RECEIVED,
    account_channel,
    message_event,
    rental_channel,
)
from smslocker.log import get_logger
from smslocker.platform import Platform
from smslocker.rentals import RentalNotFound
from smslocker.routing.inbox import INBOX_COLUMNS, MAX_LIMIT, inbox_message, rental_messages
from smslocker.store.models import Message
from smslocker.store.types import MAX_BIG_ID

from .. import guard as guard_hooks
from ..auth import User, principal_of
from ..deps import PlatformDep, platform_of
from ..problems import Problem
from ..views import message_json, problems
from .rentals import checked_rental_id

log = get_logger(__name__)

router = APIRouter(tags=["push"])

#: Seconds of quiet after which a stream gets a heartbeat.
HEARTBEAT_S = 15.0
#: Message ids remembered per stream to send each once (older ones are below the floor).
SEEN_IDS = 4096
#: What an SSE client waits before reconnecting (milliseconds).
SSE_RETRY_MS = 2000
#: Yielded by :func:`stream_events` once: backlog sent, live events from here on.
READY: Event = {"type": "ready"}

After = Annotated[
    int | None,
    Query(ge=0, le=MAX_BIG_ID, description="send the messages after this message id first"),
]


class _Seen:
    """The message ids a stream sent: the last :data:`SEEN_IDS` of them, and a floor
    below which every id counts as sent (the stream started after it, or forgot it)."""

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self.last = floor
        self._ids: OrderedDict[int, None] = OrderedDict()

    def admit(self, message_id: int) -> bool:
        """True the first time ``message_id`` is offered (and it is above the floor)."""
        if message_id <= self.floor or message_id in self._ids:
            return False
        self._ids[message_id] = None
        if len(self._ids) > SEEN_IDS:
            forgotten, _ = self._ids.popitem(last=False)
            self.floor = max(self.floor, forgotten)
        self.last = max(self.last, message_id)
        return True


async def _rental_backlog(
    platform: Platform, account_id: int, rental_id: str, after: int
) -> AsyncIterator[Event]:
    while True:
        page = await rental_messages(
            platform.db, account_id, rental_id, after=after, limit=MAX_LIMIT, ring=platform.keyring
        )
        for message in page:
            yield message_event(account_id, rental_id, message_json(message))
        if len(page) < MAX_LIMIT:
            return
        after = page[-1].id


async def _account_backlog(platform: Platform, account_id: int, after: int) -> AsyncIterator[Event]:
    """The account's routed messages after ``after``, oldest first (every rental's)."""
    while True:
        query = (
            select(*INBOX_COLUMNS)
            .where(
                Message.account_id == account_id,
                Message.id > after,
                Message.held.is_(False),  # held by an inbound filter (smslocker.screening)
            )
            .order_by(Message.id)
            .limit(MAX_LIMIT)
        )
        async with platform.db.read() as connection:
            rows = (await connection.execute(query)).all()
        for row in rows:
            message = inbox_message(row, platform.keyring)
            if message.rental_id is not None:
                yield message_event(account_id, message.rental_id, message_json(message))
        if len(rows) < MAX_LIMIT:
            return
        after = rows[-1].id


async def _account_head(platform: Platform, account_id: int) -> int:
    async with platform.db.read() as connection:
        newest = await connection.scalar(
            select(Message.id)
            .where(Message.account_id == account_id)
            .order_by(Message.id.desc())
            .limit(1)
        )
    return int(newest or 0)


async def stream_events(
    platform: Platform,
    account_id: int,
    rental_id: str | None,
    after: int | None,
    heartbeat: float | None = None,
) -> AsyncGenerator[Event | None, None]:
    """A stream's events: the backlog (messages after ``after``), :data:`READY`, then live
    events, each message once; ``None`` is a heartbeat. Ends when the bus closes. See the
    module docstring."""
    beat = HEARTBEAT_S if heartbeat is None else heartbeat
    channel = rental_channel(rental_id) if rental_id else account_channel(account_id)

    def backlog(since: int) -> AsyncIterator[Event]:
        if rental_id:
            return _rental_backlog(platform, account_id, rental_id, since)
        return _account_backlog(platform, account_id, since)

    if after is None:
        # A rental stream starts with all the rental's messages. An account stream starts
        # at its newest message, read *before* subscribing: one committed in between is
        # then in the backlog read below, and a re-read after a marker never replays the
        # account's whole history.
        after = 0 if rental_id else await _account_head(platform, account_id)
    async with platform.bus.subscribe(channel) as subscription:
        seen = _Seen(after)
        async for event in backlog(after):
            if seen.admit(int(event["message"]["id"])):
                yield event
        yield READY
        while True:
            try:
                async with asyncio.timeout(beat):
                    got_channel, event = await anext(subscription)
            except TimeoutError:
                yield None
                continue
            except StopAsyncIteration:
                return
            if got_channel == MARKER_CHANNEL:
                async for missed in backlog(seen.last):
                    if seen.admit(int(missed["message"]["id"])):
                        yield missed
                continue
            if event.get("type") == MESSAGE_RECEIVED and not seen.admit(
                int(event["message"]["id"])
            ):
                continue
            yield event


# --------------------------------------------------------------------------- WebSocket


class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason[:120]  # a close frame's reason has at most 123 bytes


async def _authorise(websocket: WebSocket, rental_id: str | None) -> tuple[Platform, Principal]:
    try:
        principal = await principal_of(websocket)
    except Problem as problem:
        raise _Refused(4000 + problem.status, problem.detail) from None
    platform = platform_of(websocket)
    if rental_id is not None:
        try:
            await rentals.get_rental(
                platform.db, principal.account_id, checked_rental_id(rental_id)
            )
        except RentalNotFound as error:
            raise _Refused(4404, str(error) or "no such rental") from None
    return platform, principal


async def _serve_websocket(websocket: WebSocket, rental_id: str | None, after: int | None) -> None:
    await websocket.accept()
    try:
        platform, principal = await _authorise(websocket, rental_id)
    except _Refused as refused:
        await websocket.close(code=refused.code, reason=refused.reason)
        return
    sender = asyncio.create_task(_send_events(websocket, platform, principal, rental_id, after))
    reader = asyncio.create_task(_read_until_closed(websocket))
    try:
        done, _ = await asyncio.wait({sender, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, reader):
            task.cancel()
        await asyncio.gather(sender, reader, return_exceptions=True)
    if reader in done:
        return  # the client closed
    code = 1000
    if not sender.cancelled():
        failure = sender.exception()
        if isinstance(failure, WebSocketDisconnect):
            return
        if failure is not None:
            log.error("push.websocket_failed", rental_id=rental_id, error=repr(failure))
            code = 1011
        else:
            code = 1001  # the bus closed: this process is stopping
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):  # the client may be gone already
            await websocket.close(code=code)


async def _send_events(
    websocket: WebSocket,
    platform: Platform,
    principal: Principal,
    rental_id: str | None,
    after: int | None,
) -> None:
    reads = guard_hooks.PushedReads(platform, principal, "websocket")
    events = stream_events(platform, principal.account_id, rental_id, after)
    try:
        async with contextlib.aclosing(events):
            async for event in events:
                frame = _PING if event is None else json.dumps(event, ensure_ascii=False)
                await websocket.send_text(frame)
                _audit_sent(reads, event)
    finally:
        await reads.aclose()


def _audit_sent(reads: guard_hooks.PushedReads, event: Event | None) -> None:
    """After ``event``'s frame went out: its message was read (the backlog's at READY)."""
    if event is READY:
        reads.backlog_sent()
    elif event is not None and event.get("type") == MESSAGE_RECEIVED:
        reads.sent(str(event["rental_id"]), int(event["message"]["id"]))


_PING = json.dumps({"type": "ping"})


async def _read_until_closed(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, until it closes: how a close is seen."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


@router.websocket("/api/v1/rentals/{rental_id}/ws")
async def rental_websocket(websocket: WebSocket, rental_id: str, after: After = None) -> None:
    """The rental's messages (all, or those after ``after``), then each new one as it
    arrives, and its ``rental.*`` events."""
    await _serve_websocket(websocket, rental_id, after)


@router.websocket("/ws/connect")
async def session_websocket(
    websocket: WebSocket,
    session_id: Annotated[str, Query(max_length=64)],
    after: After = None,
) -> None:
    """The short form of ``/api/v1/rentals/{session_id}/ws``."""
    await _serve_websocket(websocket, session_id, after)


@router.websocket("/api/v1/ws")
async def account_websocket(websocket: WebSocket, after: After = None) -> None:
    """Every event of the caller's account (new messages of all its rentals, rental
    lifecycle); with ``after``, the account's messages after that id first."""
    await _serve_websocket(websocket, None, after)


# --------------------------------------------------------------------------- SSE


def _sse(event: Event | None) -> str:
    if event is None:
        return ": ping\n\n"
    if event is READY:
        return ": ready\n\n"
    lines = [f"event: {event.get('type', 'message')}"]
    if event.get("type") == MESSAGE_RECEIVED:
        lines.append(f"id: {event['message']['id']}")
    lines.append("data: " + json.dumps(event, ensure_ascii=False))
    return "\n".join(lines) + "\n\n"


def _resume_point(after: int | None, last_event_id: str | None) -> int | None:
    """Where an SSE stream starts: ``Last-Event-ID`` (the browser's reconnect) wins."""
    if last_event_id is not None and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return after


def _event_stream(
    platform: Platform, principal: Principal, rental_id: str | None, after: int | None
) -> StreamingResponse:
    async def body() -> AsyncIterator[str]:
        reads = guard_hooks.PushedReads(platform, principal, "sse")
        try:
            yield f"retry: {SSE_RETRY_MS}\n\n"
            events = stream_events(platform, principal.account_id, rental_id, after)
            async with contextlib.aclosing(events):
                async for event in events:
                    yield _sse(event)
                    # Resumed only once the response sent the chunk: the frame went out.
                    _audit_sent(reads, event)
        finally:
            await reads.aclose()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


_SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "an event stream"},
    **problems(401, 403, 404, 422),
}
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)]


@router.get(
    "/api/v1/rentals/{rental_id}/events",
    summary="The rental's messages as Server-Sent Events",
    response_class=StreamingResponse,
    responses=_SSE_RESPONSES,
)
async def rental_events(
    platform: PlatformDep,
    principal: User,
    rental_id: str,
    after: After = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """The rental's messages (all, or those after ``after`` / ``Last-Event-ID``), then
    each new one as it arrives: ``event: message.received``, ``id: <message id>``,
    ``data: <JSON>``; and its ``rental.*`` events."""
    await rentals.get_rental(platform.db, principal.account_id, checked_rental_id(rental_id))
    start = _resume_point(after, last_event_id)
    return _event_stream(platform, principal, rental_id, start)


@router.get(
    "/api/v1/events",
    summary="Every event of my account as Server-Sent Events",
    response_class=StreamingResponse,
    responses=_SSE_RESPONSES,
)
async def account_events(
    platform: PlatformDep,
    principal: User,
    after: After = None,
    last_event_id: LastEventId = None,
) -> StreamingResponse:
    """New messages of all the account's rentals and rental lifecycle events; with
    ``after`` (or ``Last-Event-ID``), the account's messages after that id first."""
    return _event_stream(platform, principal, None, _resume_point(after, last_event_id))
