"""The FastAPI application.

``create_app(platform)`` is all a caller needs: tests drive it in-process with httpx's
ASGI transport, ``smslocker serve`` runs it under uvicorn. Background work (connectors,
sweeper, webhook worker) is not started here but by the process runner, so an API-only
process (``--role api``) is just this app.
"""

from __future__ import annotations

from fastapi import FastAPI

from smslocker import __version__, web
from smslocker.platform import Platform

from . import guard, problems
from .routes import admin, admin_filters, health, ingest, push, rentals, session, webhooks

DESCRIPTION = """\
Rent a phone number, receive its SMS. Authenticate with `Authorization: Bearer <key>`
(WebSocket and SSE also take `?access_token=`). Errors are `application/problem+json`
(RFC 9457).
"""


def create_app(platform: Platform) -> FastAPI:
    app = FastAPI(
        title="smslocker",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.platform = platform
    for module in (health, rentals, push, webhooks, admin, ingest):
        app.include_router(module.router)
    app.include_router(session.router)  # password sign-in, GET /api/v1/account
    app.include_router(admin_filters.router)  # inbound filters, held messages
    web.install(app)  # the renter's page and the operator's console (smslocker.web)
    problems.install(app)
    guard.install(app, platform)  # limits, guard hooks, admin audit (api.guard)
    return app
