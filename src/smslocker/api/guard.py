"""The guard in the API: call limits as middleware, hooks for rent, end, read and admin.

:func:`install` (called by :func:`~smslocker.api.app.create_app`) opens the counters
(Redis when ``redis_url`` is set, else this process's) and adds :class:`GuardMiddleware`,
which for every HTTP call under ``/api/``:

1. spends a token of the client IP's bucket and, when there is a bearer key, of the
   key's bucket (the key's id is read from the key itself, without the database, so a
   flood is refused before it costs a query); over the limit: 429 with
   ``Retry-After`` and a problem that names the limit;
2. makes the request's guard context (counters, client IP) and audit actor (the key
   that authenticated, once the route's auth ran) visible to the hooks below;
3. writes an ``admin.request`` audit entry for every successful admin change (any
   method but GET/HEAD/OPTIONS under ``/api/v1/admin``), with the route and status.
   It is written after the answer, in its own transaction: the audit of the change
   itself, where there is one (keys, tiers), is in the change's transaction.

Health, metrics, ``/ingest`` (carriers' callbacks) and WebSockets are not limited.
The hooks do nothing outside a request that went through the middleware (a test
calling a use case directly, the CLI), but for the audit of reads: every path that
hands a renter message content records ``message.read`` (:func:`message_read` for an
answer, before it goes out; :class:`PushedReads` for a WebSocket or SSE stream, after
each send, so that a push never waits for the database).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio
from fastapi import FastAPI, Request
from redis.exceptions import RedisError
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smslocker.accounts import Principal
from smslocker.accounts.keys import parse_key_id
from smslocker.guard import audit, limits, rules
from smslocker.guard.counters import Counters, open_counters, retry_after_header
from smslocker.guard.reads import Read, append_reads
from smslocker.guard.reports import AlreadyReported
from smslocker.log import get_logger
from smslocker.platform import Platform
from smslocker.settings import GuardSettings

from .auth import bearer_token
from .problems import Problem, problem_response

log = get_logger(__name__)

_READS = frozenset({"GET", "HEAD", "OPTIONS"})
ADMIN_PREFIX = "/api/v1/admin"


#: How often one process counts the same (IP, account) pair for accounts-per-IP, at most.
SEEN_REFRESH_S = 60.0
#: Pairs remembered for that; beyond, the memory starts again (a flood of addresses).
SEEN_PAIRS_MAX = 100_000


@dataclass
class GuardState:
    """What the middleware and the hooks share for one app: settings and counters."""

    platform: Platform
    counters: Counters
    #: (ip, account id) -> when this process counts the pair again (:meth:`account_seen`).
    _seen: dict[tuple[str, int], float] = field(default_factory=dict)

    @property
    def settings(self) -> GuardSettings:
        return self.platform.settings.guard

    async def account_seen(self, principal: Principal, ip: str) -> None:
        """Count the caller's account for ``ip`` in the accounts-per-IP rule (not for
        admins), at most once per :data:`SEEN_REFRESH_S` (or a tenth of the rule's
        window) per pair in this process: a busy client costs a counter hit a minute,
        not one per call; the shared counters keep the window across processes."""
        settings = self.settings
        rule = settings.accounts_per_ip
        if principal.is_admin or not (settings.rules_enabled and rule.enabled):
            return
        now = self.platform.now()
        moment, pair = now.timestamp(), (ip, principal.account_id)
        if self._seen.get(pair, 0.0) > moment:
            return
        if len(self._seen) > SEEN_PAIRS_MAX:
            self._seen.clear()  # forgetting only costs a few more hits
        self._seen[pair] = moment + min(SEEN_REFRESH_S, rule.window_s / 10)
        await rules.account_seen(
            self.platform.db,
            self.counters,
            settings,
            account_id=principal.account_id,
            ip=ip,
            now=now,
        )

    async def aclose(self) -> None:
        await self.counters.aclose()


@dataclass(slots=True)
class RequestGuard:
    state: GuardState
    ip: str
    #: The abuse rules' counts read with the quota before a rent (see ``before_rent``).
    counts: tuple[int, int] | None = None


_request: ContextVar[RequestGuard | None] = ContextVar("smslocker_request_guard", default=None)


def install(app: FastAPI, platform: Platform) -> GuardState:
    """Open the counters and add the middleware; ``app.state.guard`` keeps them (close
    with ``await app.state.guard.aclose()`` when the app stops)."""
    settings = platform.settings
    state = GuardState(
        platform, open_counters(settings.redis_url, prefix=settings.guard.redis_prefix)
    )
    app.state.guard = state
    app.add_middleware(GuardMiddleware, state=state)
    app.add_exception_handler(limits.RateLimited, _rate_limited)  # type: ignore[arg-type]
    app.add_exception_handler(AlreadyReported, _already_reported)  # type: ignore[arg-type]
    return state


def rate_limited_problem(error: limits.RateLimited) -> Problem:
    return Problem(
        429,
        "rate-limited",
        error.detail,
        title="Too many requests",
        headers={"Retry-After": retry_after_header(error.retry_after)},
        limit=error.limit,
        retry_after=max(1, round(error.retry_after)),
    )


async def _rate_limited(request: Request, error: limits.RateLimited) -> JSONResponse:
    return problem_response(rate_limited_problem(error), request)


async def _already_reported(request: Request, error: AlreadyReported) -> JSONResponse:
    return problem_response(Problem(409, "already-reported", str(error)), request)


def client_ip(scope: Scope, trust_forwarded_for: bool) -> str:
    if trust_forwarded_for:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                first: str = value.decode("latin-1").split(",")[0].strip()
                if first:
                    return first[:64]
    client = scope.get("client")
    return str(client[0])[:64] if client else "unknown"


def _actor_of(scope_state: Mapping[str, Any]) -> str | None:
    principal = scope_state.get("principal")
    return f"key:{principal.key_id}" if isinstance(principal, Principal) else None


class GuardMiddleware:
    def __init__(self, app: ASGIApp, state: GuardState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        settings = self.state.settings
        ip = client_ip(scope, settings.trust_forwarded_for)
        if settings.limits_enabled:
            try:
                await self._check(scope, ip)
            except limits.RateLimited as error:
                response = problem_response(rate_limited_problem(error))
                await response(scope, receive, send)
                return
            except RedisError as error:
                # Fail open: Redis down must not take the API down with it.
                log.error("guard.counters_failed", error=repr(error))
        scope_state: dict[str, Any] = scope.setdefault("state", {})
        status: list[int] = []

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        token = _request.set(RequestGuard(self.state, ip))
        try:
            with audit.actor_context(lambda: _actor_of(scope_state)):
                await self.app(scope, receive, send_status)
                await self._account_seen(scope_state, ip)
                admin_write = path.startswith(ADMIN_PREFIX) and scope["method"] not in _READS
                if admin_write and status and status[0] < 400:
                    await self._audit_admin(scope, status[0])
        finally:
            _request.reset(token)

    async def _account_seen(self, scope_state: Mapping[str, Any], ip: str) -> None:
        principal = scope_state.get("principal")
        if not isinstance(principal, Principal):
            return
        try:
            await self.state.account_seen(principal, ip)
        except Exception as error:  # answered already; a rule's failure is only logged
            log.error("guard.rules_failed", account_id=principal.account_id, error=repr(error))

    async def _check(self, scope: Scope, ip: str) -> None:
        from starlette.requests import HTTPConnection

        token = bearer_token(HTTPConnection(scope))
        key_id = parse_key_id(token) if token else None
        now = self.state.platform.now().timestamp()
        await limits.check_call(self.state.counters, self.state.settings, ip, key_id, now)

    async def _audit_admin(self, scope: Scope, status: int) -> None:
        path = str(scope.get("path", ""))
        parameters = {name: str(value) for name, value in scope.get("path_params", {}).items()}
        # The route's template, rebuilt from the path (sub-routers' routes only know
        # their own part of it): /accounts/7/keys -> /accounts/{account_id}/keys.
        template = path
        for name, value in parameters.items():
            template = template.replace(f"/{value}", "/{" + name + "}", 1)
        platform = self.state.platform
        try:
            await audit.record(
                platform.db,
                audit.ADMIN_REQUEST,
                at=platform.now(),
                target=path[:200],
                details={
                    "method": scope.get("method"),
                    "route": template,
                    "path_params": parameters,
                    "status": status,
                },
            )
        except Exception as error:  # the change is committed and answered; report it
            log.error("guard.audit_failed", path=scope.get("path"), error=repr(error))


@contextmanager
def request_guard(state: GuardState, ip: str) -> Iterator[None]:
    """Act as if inside a request from ``ip`` (tools and tests driving the hooks)."""
    token = _request.set(RequestGuard(state, ip))
    try:
        yield
    finally:
        _request.reset(token)


# --------------------------------------------------------------------------- hooks


async def before_rent(platform: Platform, principal: Principal) -> None:
    """Quota and slow-down of the renter; raises :class:`~smslocker.guard.limits.RateLimited`."""
    current = _request.get()
    if current is None or not current.state.settings.limits_enabled:
        return
    settings, now = current.state.settings, platform.now()
    with_counts = settings.rules_enabled  # the rules' counts in the same statement
    try:
        row = await limits.check_rent(
            platform.db,
            current.state.counters,
            settings,
            principal.account_id,
            now,
            with_counts=with_counts,
        )
    except RedisError as error:  # fail open, as the middleware does
        log.error("guard.counters_failed", error=repr(error))
        return
    if row is not None and with_counts:
        current.counts = (int(row.burst_rentals or 0), int(row.empty_endings or 0))


async def after_rent(platform: Platform, principal: Principal, rental: Any) -> None:
    """Feed the abuse rules with the new rental (they may act on the account)."""
    current = _request.get()
    if current is None:
        return
    try:
        await rules.after_rent(
            platform.db,
            current.state.counters,
            current.state.settings,
            account_id=principal.account_id,
            ip=current.ip,
            rental_id=rental.id,
            now=platform.now(),
            counts=current.counts,
        )
    except Exception as error:  # the rental is committed; a rule's failure must not 500
        log.error("guard.rules_failed", rental_id=rental.id, error=repr(error))


async def after_end(platform: Platform, principal: Principal, rental: Any) -> None:
    """A rental of the caller ended: the empty-endings rule."""
    current = _request.get()
    if current is None:
        return
    try:
        await rules.after_end(
            platform.db,
            current.state.settings,
            account_id=principal.account_id,
            ip=current.ip,
            now=platform.now(),
        )
    except Exception as error:
        log.error("guard.rules_failed", rental_id=rental.id, error=repr(error))


async def message_read(
    platform: Platform,
    principal: Principal,
    rental_id: str,
    message_ids: Sequence[int],
    *,
    via: str = "messages",
) -> None:
    """Audit that the caller read ``message_ids`` of its rental (nothing for none), in one
    transaction, before the answer goes out; ``via`` names the path (``messages``,
    ``code``)."""
    if not message_ids:
        return
    read = Read(
        principal.account_id,
        audit.current_actor(f"account:{principal.account_id}"),
        via,
        rental_id,
        tuple(message_ids),
    )
    await platform.db.run_write(partial(append_reads, reads=[read], at=platform.now()))


class PushedReads:
    """The ``message.read`` audit of one push stream (``via``: ``websocket``, ``sse``).

    The stream calls :meth:`sent` after each message frame went out, and
    :meth:`backlog_sent` once the backlog it starts with did: the backlog is one read,
    live messages are noted as they go. The writing is the platform's
    :class:`~smslocker.guard.reads.ReadTrail`, shared by every stream, so a send never
    waits for the database. :meth:`aclose` (when the stream ends, however it ends)
    waits until what this stream noted is written.
    """

    def __init__(self, platform: Platform, principal: Principal, via: str) -> None:
        self._trail = platform.read_trail
        self._account_id = principal.account_id
        self._actor = f"key:{principal.key_id}"  # as the middleware names a key's caller
        self._via = via
        self._live = False
        self._backlog: dict[str, list[int]] = {}

    def sent(self, rental_id: str, message_id: int) -> None:
        """A message of ``rental_id`` went out to the client."""
        if self._live:
            self._trail.note([self._read(rental_id, [message_id])])
        else:
            self._backlog.setdefault(rental_id, []).append(message_id)

    def backlog_sent(self) -> None:
        """The backlog went out: record it, and each message from now on as it is sent."""
        self._live = True
        self._trail.note([self._read(rental, ids) for rental, ids in self._backlog.items()])
        self._backlog = {}

    def _read(self, rental_id: str, message_ids: Sequence[int]) -> Read:
        return Read(self._account_id, self._actor, self._via, rental_id, tuple(message_ids))

    async def aclose(self) -> None:
        """Note what was sent and not yet noted; return once all of it is written."""
        self.backlog_sent()
        # Shielded: an SSE stream ends by its task being cancelled, and a cancelled scope
        # would cancel this wait again (the write itself is the trail's task).
        with anyio.CancelScope(shield=True):
            await self._trail.flush()


async def account_patched(platform: Platform, account_id: int, changes: Mapping[str, Any]) -> None:
    """Audit an operator's change of an account's tier or status (``PATCH``)."""
    for name, value in changes.items():
        action = audit.ACCOUNT_TIER_CHANGED if name == "tier" else audit.ACCOUNT_STATUS_CHANGED
        await audit.record(
            platform.db,
            action,
            at=platform.now(),
            account_id=account_id,
            target=f"account:{account_id}",
            details={"to": value},
        )


__all__ = [
    "GuardMiddleware",
    "GuardState",
    "PushedReads",
    "account_patched",
    "after_end",
    "after_rent",
    "before_rent",
    "client_ip",
    "install",
    "message_read",
    "request_guard",
]
