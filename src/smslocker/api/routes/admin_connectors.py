"""Admin: carrier connectors — add, list with live state, change, remove, start, stop.

Connectors are rows of the ``connectors`` table (:mod:`smslocker.gateway.registry`); a
gateway process runs each enabled SMPP one under a lease
(:mod:`smslocker.gateway.manager`) and writes its status back, so any API process can
show it. "Start" and "stop" set ``enabled``; the gateway follows within its interval
(at once when the manager runs in this process). The bind password and the HTTP secret
are write-only: answers say whether one is set, never what it is.

Included in :mod:`.admin`'s router, which makes every route admin-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from smslocker.gateway.manager import ConnectorManager, LiveState
from smslocker.gateway.registry import (
    ConnectorRecord,
    create_connector,
    delete_connector,
    get_connector,
    list_connectors,
    public_options,
    set_enabled,
    update_connector,
)

from ..deps import PlatformDep
from ..views import iso, problems

router = APIRouter()

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
Name = Annotated[str, Path(pattern=NAME, description="the connector's name")]
Bind = Literal["receiver", "transceiver", "transmitter", "http"]


class _Settings(BaseModel):
    """What a connector is made of; every field optional (the PATCH body)."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, max_length=255, pattern=PRINTABLE)
    port: int | None = Field(None, ge=1, le=65535)
    system_id: str | None = Field(None, max_length=15, pattern=PRINTABLE)
    password: str | None = Field(
        None, max_length=8, pattern=PRINTABLE, description="write-only; SMPP allows 8"
    )
    bind: Bind | None = None
    system_type: str | None = Field(None, max_length=12, pattern=PRINTABLE)
    address_range: str | None = Field(None, max_length=40, pattern=PRINTABLE)
    tls: bool | None = None
    window: int | None = Field(None, ge=1, le=10_000)
    enquire_link_s: float | None = Field(None, gt=0, le=86_400)
    http_secret: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=PRINTABLE,
        description="HTTP ingress: a Twilio auth token, or a bearer / HMAC secret (write-only)",
    )
    public_url: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^https?://[^\x00-\x20\x7f]+$",
        description="HTTP ingress: the exact URL the provider calls (and signs)",
    )
    options: dict[str, Any] | None = Field(
        None,
        description="other settings of the bind (tls_verify, throttle, reconnect_max, ...)",
    )

    def options_of(self) -> dict[str, Any]:
        named = (
            "system_type",
            "address_range",
            "tls",
            "window",
            "enquire_link_s",
            "http_secret",
            "public_url",
        )
        options = dict(self.options or {})
        for key in named:
            if key in self.model_fields_set:
                options[key] = getattr(self, key)
        return options


class ConnectorIn(_Settings):
    """A new connector: an SMPP bind (host, port, system_id, password, bind) or an HTTP
    ingress (``bind`` "http": providers post to ``/api/v1/ingest/{name}``)."""

    name: str = Field(pattern=NAME)
    bind: Bind = "receiver"
    enabled: bool = True


class ConnectorPatch(_Settings):
    """Fields to change; an option set to null is removed. A running bind binds again."""


def connector_json(
    record: ConnectorRecord, now: datetime, live: LiveState | None = None
) -> dict[str, Any]:
    """A connector as the API shows it: settings without secrets, and its state."""
    body: dict[str, Any] = {
        "name": record.name,
        "bind": record.bind,
        "enabled": record.enabled,
        "host": record.host or None,
        "port": record.port or None,
        "system_id": record.system_id or None,
        "has_password": bool(record.password),
        "has_secret": record.http_secret is not None,
        "options": public_options(record.options),
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }
    if record.is_http:
        body["ingest_path"] = f"/api/v1/ingest/{record.name}"
        body.update(state="ready" if record.enabled else "stopped", owner=None)
        body.update(lease_until=None, status_at=None, last_error=None, stats=None)
        return body
    leased = record.leased_at(now)
    if live is not None:
        state, last_error = live.state, live.last_error
    elif leased:
        state, last_error = record.status, record.last_error
    else:
        # Nobody runs it now: disabled, or waiting for a gateway process to take it.
        state, last_error = ("unassigned" if record.enabled else "stopped"), record.last_error
    body.update(
        state=state,
        owner=record.lease_owner if leased else None,
        lease_until=iso(record.lease_until) if leased else None,
        status_at=iso(record.status_at),
        last_error=last_error,
        stats=live.stats if live is not None else None,
    )
    return body


def _manager(request: Request) -> ConnectorManager | None:
    manager = getattr(request.app.state, "connector_manager", None)
    return manager if isinstance(manager, ConnectorManager) else None


def _live(request: Request, name: str) -> LiveState | None:
    manager = _manager(request)
    return manager.states().get(name) if manager is not None else None


def _changed(request: Request) -> None:
    manager = _manager(request)
    if manager is not None:
        manager.wake()


@router.post(
    "/connectors",
    status_code=201,
    summary="Add a connector (SMPP bind or HTTP ingress)",
    responses=problems(409, 422),
)
async def post_connector(
    request: Request, platform: PlatformDep, body: ConnectorIn
) -> dict[str, Any]:
    values = body.model_dump(include={"name", "host", "port", "system_id", "password", "bind"})
    values.update(enabled=body.enabled, options=body.options_of())
    record = await create_connector(platform.db, values, platform.now())
    _changed(request)
    return connector_json(record, platform.now())


@router.get("/connectors", summary="Every connector, with its live state")
async def get_connectors(request: Request, platform: PlatformDep) -> dict[str, Any]:
    now = platform.now()
    records = await list_connectors(platform.db)
    return {"connectors": [connector_json(r, now, _live(request, r.name)) for r in records]}


@router.get("/connectors/{name}", summary="One connector", responses=problems(404))
async def get_one_connector(request: Request, platform: PlatformDep, name: Name) -> dict[str, Any]:
    record = await get_connector(platform.db, name)
    return connector_json(record, platform.now(), _live(request, name))


@router.patch(
    "/connectors/{name}", summary="Change a connector's settings", responses=problems(404, 422)
)
async def patch_connector(
    request: Request, platform: PlatformDep, name: Name, body: ConnectorPatch
) -> dict[str, Any]:
    changes: dict[str, Any] = {
        key: getattr(body, key)
        for key in ("host", "port", "system_id", "password", "bind")
        if key in body.model_fields_set and getattr(body, key) is not None
    }
    options = body.options_of()
    if options:
        changes["options"] = options
    record = await update_connector(platform.db, name, changes, platform.now())
    _changed(request)
    return connector_json(record, platform.now(), _live(request, name))


@router.delete(
    "/connectors/{name}",
    status_code=204,
    summary="Remove a connector (its gateway unbinds)",
    responses=problems(404),
)
async def remove_connector(request: Request, platform: PlatformDep, name: Name) -> Response:
    await delete_connector(platform.db, name)
    _changed(request)
    return Response(status_code=204)


@router.post(
    "/connectors/{name}/start", summary="Enable (bind) a connector", responses=problems(404)
)
async def start_connector(request: Request, platform: PlatformDep, name: Name) -> dict[str, Any]:
    record = await set_enabled(platform.db, name, True, platform.now())
    _changed(request)
    return connector_json(record, platform.now(), _live(request, name))


@router.post(
    "/connectors/{name}/stop", summary="Disable (unbind) a connector", responses=problems(404)
)
async def stop_connector(request: Request, platform: PlatformDep, name: Name) -> dict[str, Any]:
    record = await set_enabled(platform.db, name, False, platform.now())
    _changed(request)
    return connector_json(record, platform.now(), None)
