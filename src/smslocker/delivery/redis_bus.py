"""The bus across processes, on Redis pub/sub (:class:`RedisBus`); :mod:`.bus` has the
semantics both buses share (order per channel, bounded queues, markers)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from smslocker.log import get_logger

from .bus import (
    DEFAULT_QUEUE_SIZE,
    MARKER_CHANNEL,
    RECONNECTED,
    BusClosed,
    BusError,
    BusUnavailable,
    Event,
    Subscription,
    _check_channel,
    _LocalFanout,
)

log = get_logger(__name__)

#: PUBLISH commands sent to Redis in one pipeline (one round trip) at most.
PIPELINE_MAX = 500


def _encode(channel: str, event: Event) -> str:
    """``event`` as the JSON that goes through Redis (after checking ``channel``)."""
    _check_channel(channel)
    try:
        return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"a bus event must be JSON-compatible: {error}") from error


class _LinkLost(Exception):
    """The pub/sub connection is gone or stale: make a new one."""


class RedisBus(_LocalFanout):
    """The bus across processes, on Redis pub/sub. See the module docstring.

    Publishing uses a small pool of connections. Subscribing uses this process's one
    pub/sub connection, made by a listener task on the first subscription: it SUBSCRIBEs
    to a channel when the first local subscription wants it and UNSUBSCRIBEs when the
    last leaves, decodes each message once and fans it out locally (the same dict to
    each local subscriber: read-only here too). Entering a
    subscription waits until Redis confirmed the SUBSCRIBE (``subscribe_timeout``), so
    that whatever is published afterwards is received.

    When the connection drops, or answers nothing (not even a PING) for two
    ``ping_interval``, the listener reconnects after an exponential backoff with
    jitter, subscribes again to every channel wanted here, and then gives each
    subscription that was open a ``reconnected`` marker.

    Channels are namespaced in Redis with ``prefix``. ``name`` (default: host and pid)
    is set as CLIENT SETNAME on every connection, to find them in CLIENT LIST. A publish
    that takes longer than ``socket_timeout`` raises :class:`BusUnavailable`; a
    SUBSCRIBE or UNSUBSCRIBE that does counts, like an unanswered PING, as a lost link.
    """

    def __init__(
        self,
        url: str,
        *,
        maxsize: int = DEFAULT_QUEUE_SIZE,
        prefix: str = "smslocker:bus:",
        name: str | None = None,
        subscribe_timeout: float = 5.0,
        ping_interval: float = 5.0,
        reconnect_initial: float = 0.05,
        reconnect_cap: float = 2.0,
        socket_timeout: float = 5.0,
    ) -> None:
        super().__init__(maxsize)
        self.name = name or f"smslocker-bus:{socket.gethostname()}:{os.getpid()}"
        self._prefix = prefix
        self._subscribe_timeout = subscribe_timeout
        self._ping_interval = ping_interval
        self._reconnect_initial = reconnect_initial
        self._reconnect_cap = reconnect_cap
        self._rng = random.Random()
        self._socket_timeout = socket_timeout
        # No socket_timeout for redis-py: it would wrap every send in asyncio.wait_for,
        # which before Python 3.12 can swallow a cancellation of the task sending (a
        # subscriber that is cancelled while entering would carry on). Every operation
        # is bounded here instead, with asyncio.timeout.
        #
        # A PUBLISH on a pooled connection that Redis closed is retried on a new one.
        self._publisher = Redis.from_url(
            url,
            client_name=self.name,
            socket_timeout=None,
            socket_connect_timeout=socket_timeout,
            retry=Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.2), 2),
        )
        # The pub/sub connection must not be retried nor reconnected behind our back
        # (redis-py would quietly SUBSCRIBE again on a new connection): with no error
        # to retry on, every loss reaches the listener, which knows what to re-subscribe
        # and whom to tell that events were lost.
        self._listener = Redis.from_url(
            url,
            client_name=self.name,
            socket_timeout=None,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0, supported_errors=()),
        )
        self._listener_task: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None  # the live pub/sub connection, when there is one
        # Per connection: channels Redis confirmed, and SUBSCRIBE/UNSUBSCRIBE commands
        # sent per channel and not yet confirmed. Replies come in order, so a channel's
        # last confirmation tells its final state.
        self._confirmed: set[str] = set()
        self._in_flight: dict[str, int] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._reconnect_attempt = 0
        #: Times the pub/sub connection was made again after a loss.
        self.reconnects = 0

    # ------------------------------------------------------------------ publishing

    async def publish(self, channel: str, event: Event) -> None:
        await self.publish_many(((channel, event),))

    async def publish_many(self, items: Sequence[tuple[str, Event]]) -> None:
        """One pipeline of PUBLISH commands (no MULTI: nothing to make atomic), sent in
        chunks of :data:`PIPELINE_MAX`. redis-py spends ~100 µs of CPU on a command sent
        alone and ~15 µs on one among twenty in a pipeline: publishing a busy ingest's
        events one by one took a third of the event loop (``bench/ws_latency.py --redis``:
        events published seconds late at 1,000 messages/s)."""
        if self._closed:
            raise BusClosed("the bus is closed")
        commands = [(self._prefix + channel, _encode(channel, event)) for channel, event in items]
        try:
            async with asyncio.timeout(self._socket_timeout):
                if len(commands) == 1:
                    await self._publisher.publish(*commands[0])
                    return
                for start in range(0, len(commands), PIPELINE_MAX):
                    async with self._publisher.pipeline(transaction=False) as pipeline:
                        for channel, payload in commands[start : start + PIPELINE_MAX]:
                            pipeline.publish(channel, payload)
                        await pipeline.execute()
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            raise BusUnavailable(f"cannot publish to Redis: {_describe(error)}") from error
        except RedisError as error:
            raise BusError(f"Redis refused the publish: {error}") from error

    async def close(self) -> None:
        if self._closed:
            return
        self._end_all()
        # Wake whoever waits to enter a subscription: they find the bus closed.
        for waiters in self._waiters.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        if self._listener_task is not None:
            self._listener_task.cancel()
            await asyncio.wait({self._listener_task})
        await self._publisher.aclose()
        await self._listener.aclose()

    # ------------------------------------------------------------------ subscribing

    async def _attach(self, subscription: Subscription) -> None:
        new = self._register(subscription)
        if self._listener_task is None:
            self._listener_task = asyncio.create_task(self._listen(), name="smslocker-bus")
        try:
            await self._confirm(subscription.channels, new)
        except BaseException:
            await self._detach(subscription)
            raise

    async def _confirm(self, channels: tuple[str, ...], new: list[str]) -> None:
        """Wait until Redis confirmed a subscription to each of ``channels``; SUBSCRIBE
        to those in ``new`` (no subscriber here until now)."""
        pending = [channel for channel in channels if channel not in self._confirmed]
        if not pending:
            return
        loop = asyncio.get_running_loop()
        waiters = [loop.create_future() for _ in pending]
        for channel, waiter in zip(pending, waiters, strict=True):
            self._waiters.setdefault(channel, []).append(waiter)
        try:
            # Without a live connection nothing is sent: the listener subscribes to every
            # wanted channel when it connects.
            await self._send("SUBSCRIBE", new)
            async with asyncio.timeout(self._subscribe_timeout):
                for waiter in waiters:
                    await waiter
                    if self._closed:
                        raise BusClosed("the bus is closed")
        except TimeoutError:
            raise BusUnavailable(
                f"Redis did not confirm the subscription to {pending} "
                f"within {self._subscribe_timeout} s"
            ) from None
        finally:
            for channel, waiter in zip(pending, waiters, strict=True):
                channel_waiters = self._waiters.get(channel, [])
                if waiter in channel_waiters:
                    channel_waiters.remove(waiter)
                if not channel_waiters:
                    self._waiters.pop(channel, None)

    async def _detach(self, subscription: Subscription) -> None:
        gone = self._unregister(subscription)
        if not gone or self._closed:
            return
        self._confirmed.difference_update(gone)
        await self._send("UNSUBSCRIBE", gone)

    async def _send(self, command: str, channels: list[str]) -> None:
        pubsub = self._pubsub
        # Checked right before the send, with no await in between: redis-py would
        # otherwise reconnect a dropped connection on its own to send the command.
        if not channels or pubsub is None or not _connected(pubsub):
            return
        for channel in channels:
            self._in_flight[channel] = self._in_flight.get(channel, 0) + 1
        wire = [self._prefix + channel for channel in channels]
        # Shielded: redis-py drops a connection whose send was interrupted, and this one
        # is shared by every subscription here; a subscriber cancelled while entering or
        # leaving must not cut the others off.
        await asyncio.shield(self._write(pubsub, command, wire))

    async def _write(self, pubsub: PubSub, command: str, wire: list[str]) -> None:
        try:
            async with asyncio.timeout(self._socket_timeout):
                if command == "SUBSCRIBE":
                    await pubsub.subscribe(*wire)
                else:
                    await pubsub.unsubscribe(*wire)
        except (RedisError, OSError) as error:
            # The listener sees the same loss and subscribes again on a new connection.
            log.debug("bus.send_failed", command=command, error=_describe(error))

    # ------------------------------------------------------------------ the listener

    async def _listen(self) -> None:
        """Keep this process's pub/sub connection: connect, read, fan out; on loss, again."""
        while True:
            pubsub = self._listener.pubsub()
            try:
                await self._serve(pubsub)
            except (RedisError, OSError, _LinkLost) as error:
                log.warning("bus.link_lost", error=_describe(error))
            except Exception:
                # A bug here must not leave every subscriber waiting forever.
                log.exception("bus.listener_failed")
            finally:
                self._pubsub = None
                self._confirmed.clear()
                self._in_flight.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            self.reconnects += 1
            await asyncio.sleep(self._backoff_delay())

    def _backoff_delay(self) -> float:
        """Exponential, capped, with "equal jitter": half fixed, half random, so that
        the processes of a deployment do not all reconnect in step."""
        delay = min(
            self._reconnect_cap, self._reconnect_initial * 2 ** min(self._reconnect_attempt, 32)
        )
        self._reconnect_attempt += 1
        return float(delay / 2 + self._rng.uniform(0, delay / 2))

    async def _serve(self, pubsub: PubSub) -> None:
        async with asyncio.timeout(self._socket_timeout):
            await pubsub.connect()  # type: ignore[no-untyped-call]
        # Subscriptions open now were open while there was no link: they may have missed
        # events. Those still waiting to enter have not: they start once confirmed.
        missed = [s for s in self._open_subscriptions() if s._open]
        wanted = list(self._subscriptions)
        self._pubsub = pubsub
        awaiting = set(wanted)
        await self._send("SUBSCRIBE", wanted)
        if not awaiting:
            self._on_resubscribed(missed)
        ping_sent = False
        while True:
            # Checked before every read: redis-py would quietly reconnect a closed one.
            if not _connected(pubsub):
                raise _LinkLost("the pub/sub connection was closed")
            message = await pubsub.get_message(timeout=self._ping_interval)
            if message is None:
                # Quiet for a ping interval: a half-open TCP link stays quiet forever.
                if ping_sent:
                    raise _LinkLost(f"no answer to PING within {self._ping_interval} s")
                if _connected(pubsub):
                    await pubsub.ping()
                    ping_sent = True
                continue
            ping_sent = False
            channel = self._handle(message)
            if awaiting and channel is not None and message["type"] == "subscribe":
                awaiting.discard(channel)
                if not awaiting:
                    self._on_resubscribed(missed)

    def _on_resubscribed(self, missed: list[Subscription]) -> None:
        self._reconnect_attempt = 0
        for subscription in missed:
            subscription._put(MARKER_CHANNEL, {"type": RECONNECTED})

    def _handle(self, message: dict[str, Any]) -> str | None:
        """Fan out a message, or note a confirmation; return the channel it is about."""
        kind = message["type"]
        raw_channel = message["channel"]
        if not isinstance(raw_channel, bytes):
            return None  # a PONG
        wire = raw_channel.decode()
        if not wire.startswith(self._prefix):
            return None
        channel = wire[len(self._prefix) :]
        if kind == "message":
            try:
                event = json.loads(message["data"])
            except ValueError:
                log.warning("bus.bad_payload", channel=channel)
                return channel
            if isinstance(event, dict):
                self._fan_out(channel, event)
            else:
                log.warning("bus.bad_payload", channel=channel)
        elif kind in ("subscribe", "unsubscribe"):
            left = self._in_flight.get(channel, 0) - 1
            if left > 0:
                self._in_flight[channel] = left
                return channel
            self._in_flight.pop(channel, None)
            if kind == "unsubscribe":
                self._confirmed.discard(channel)
                return channel
            self._confirmed.add(channel)
            for waiter in self._waiters.get(channel, ()):
                if not waiter.done():
                    waiter.set_result(None)
        return channel


def _connected(pubsub: PubSub) -> bool:
    connection = pubsub.connection
    return connection is not None and bool(connection.is_connected)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
