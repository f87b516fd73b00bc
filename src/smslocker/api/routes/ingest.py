"""``POST /api/v1/ingest/{connector}``: inbound SMS from providers that call back over HTTP.

The connector is an HTTP ingress the operator added (``bind`` "http"); its
``http_secret`` authenticates the provider, not a user's key. Reading the bodies and
checking signatures is :mod:`smslocker.gateway.http_ingress`; here the messages go to
the process's ingest sink, the same group-committed
:class:`~smslocker.routing.ingest.StoreSink` an SMPP connector feeds, and the answer is
2xx only once they are committed. If the commit fails the answer is a 503 and the
provider retries; de-duplication keeps a retried (or redelivered) callback from being
stored twice.

The sink is ``app.state.ingest_sink`` when the process set one (``smslocker serve``
shares one sink between its connectors and this route); otherwise one is made on first
use from the platform.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response

from smslocker.gateway import http_ingress as formats
from smslocker.gateway.messages import InboundMessage, Sink, SinkSaturated
from smslocker.gateway.registry import ConnectorNotFound, ConnectorRecord, get_connector
from smslocker.log import get_logger
from smslocker.platform import Platform

from ..deps import PlatformDep
from ..problems import Problem

log = get_logger(__name__)
D = TypeVar("D")
R = TypeVar("R")

router = APIRouter(tags=["ingest"])

#: The largest body read (a full batch of long messages fits well within it).
MAX_BODY = 4 * 1024 * 1024
FORM = "application/x-www-form-urlencoded"
TWIML_EMPTY = "<Response/>"

_MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "properties": {
        "from": {"type": "string", "description": "sender (or `source`)"},
        "to": {"type": "string", "description": "our number, E.164 (or `destination`)"},
        "text": {"type": "string"},
        "timestamp": {"type": "string", "description": "ISO-8601, or Unix seconds"},
        "id": {"type": "string", "description": "the provider's message id"},
    },
}
_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"oneOf": [_MESSAGE_SCHEMA, {"type": "array", "items": _MESSAGE_SCHEMA}]}
        },
        FORM: {
            "schema": {
                "type": "object",
                "description": "Twilio's inbound SMS webhook",
                "properties": {
                    name: {"type": "string"}
                    for name in ("From", "To", "Body", "MessageSid", "NumSegments")
                },
            }
        },
    },
}


def ingest_sink(app: Starlette, platform: Platform) -> Sink:
    """The process's ingest sink (see the module docstring)."""
    sink: Sink | None = getattr(app.state, "ingest_sink", None)
    if sink is None:
        sink = platform.ingest_sink()
        app.state.ingest_sink = sink
    return sink


@router.post(
    "/api/v1/ingest/{connector}",
    summary="Inbound SMS by HTTP callback (generic JSON or Twilio form post)",
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={
        200: {"description": "stored (JSON: the count; Twilio: an empty TwiML answer)"},
        401: {"description": "the connector has a secret and the request did not carry it"},
        403: {"description": "the signature does not match"},
        404: {"description": "no HTTP ingress connector by that name"},
        422: {"description": "the body is not an inbound SMS"},
        503: {"description": "not stored (connector stopped, or storage failing): retry"},
    },
)
async def ingest(connector: str, request: Request, platform: PlatformDep) -> Response:
    record = await _http_connector(platform, connector)
    body = await _body(request)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    now = platform.now()
    if media_type == FORM:
        pairs = _form(body)
        _check_twilio(record, request, pairs)
        messages = [_read(formats.twilio_message, record.name, formats.form_fields(pairs), now)]
        await _store(request, platform, messages)
        return Response(TWIML_EMPTY, media_type="text/xml")
    if media_type in ("", "application/json") or media_type.endswith("+json"):
        _check_json(record, request, body)
        messages = _read(formats.json_messages, record.name, _json(body), now)
        await _store(request, platform, messages)
        return JSONResponse({"accepted": len(messages)})
    raise Problem(
        415, "unsupported-media-type", f"send application/json or {FORM}, not {media_type}"
    )


async def _http_connector(platform: Platform, name: str) -> ConnectorRecord:
    try:
        record = await get_connector(platform.db, name)
    except ConnectorNotFound:
        record = None
    if record is None or not record.is_http:
        raise Problem(404, "connector-not-found", f"no HTTP ingress connector named {name!r}")
    if not record.enabled:
        raise Problem(
            503,
            "connector-stopped",
            f"connector {name!r} is stopped; retry later",
            headers={"Retry-After": "60"},
        )
    return record


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise Problem(413, "payload-too-large", f"at most {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise Problem(413, "payload-too-large", f"at most {MAX_BODY} bytes")
    return body


def _form(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "bad-request", "the form body is not UTF-8 form encoding") from None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "bad-request", "the body is not JSON") from None


def _read(parse: Callable[[str, D, datetime], R], connector: str, data: D, now: datetime) -> R:
    try:
        return parse(connector, data, now)
    except formats.BadInbound as error:
        raise Problem(422, "invalid-message", str(error)) from None


def _check_twilio(record: ConnectorRecord, request: Request, pairs: list[tuple[str, str]]) -> None:
    secret = record.http_secret
    if secret is None:
        return
    signature = request.headers.get(formats.TWILIO_SIGNATURE)
    if not signature:
        raise Problem(401, "unauthorized", "X-Twilio-Signature is required")
    url = str(record.options.get("public_url") or request.url)
    if not formats.twilio_valid(secret, url, pairs, signature):
        raise Problem(403, "invalid-signature", "X-Twilio-Signature does not match")


def _check_json(record: ConnectorRecord, request: Request, body: bytes) -> None:
    secret = record.http_secret
    if secret is None:
        return
    authorization = request.headers.get("authorization")
    signature = request.headers.get(formats.HMAC_SIGNATURE)
    if not authorization and not signature:
        raise Problem(
            401,
            "unauthorized",
            f"Authorization: Bearer <secret> or {formats.HMAC_SIGNATURE} is required",
            headers={"WWW-Authenticate": 'Bearer realm="smslocker-ingest"'},
        )
    if formats.bearer_valid(secret, authorization) or formats.body_signature_valid(
        secret, body, signature
    ):
        return
    raise Problem(403, "invalid-signature", "the secret or signature does not match")


async def _store(request: Request, platform: Platform, messages: list[InboundMessage]) -> None:
    if not messages:
        return
    sink = ingest_sink(request.app, platform)
    try:
        await sink.accept(messages)
    except SinkSaturated:
        raise Problem(
            503, "ingest-busy", "too many messages right now", headers={"Retry-After": "5"}
        ) from None
    except Exception as error:  # not committed: the provider must retry
        log.error("ingest.http_failed", messages=len(messages), error=repr(error))
        raise Problem(
            503,
            "ingest-unavailable",
            "the messages could not be stored; retry",
            headers={"Retry-After": "5"},
        ) from None
