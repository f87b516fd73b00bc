"""The web pages: the renter's page (``/``) and the operator's console (``/console``).

Served by the API process itself (no front-end server, no build step): each page is an
HTML shell from ``templates/`` with plain ES modules and CSS from ``static/``; the one
third-party file, uPlot (the console's charts), is vendored under ``static/vendor/`` with
its licence, so nothing is fetched at run time. The pages call the public API with the
key the person signs in with — the same routes, the same checks, no private back door:
a user key that opens ``/console`` is told so because the admin API answers 403.

:func:`install` is what :func:`smslocker.api.app.create_app` calls.
"""

from __future__ import annotations

from fastapi import FastAPI

from .pages import STATIC_DIR, router, static_files


def install(app: FastAPI) -> None:
    """Add the pages, their static files and the admin figures the console charts."""
    from smslocker.api.routes import admin_stats

    app.include_router(admin_stats.router)
    app.include_router(router)
    app.mount("/static", static_files(), name="static")


__all__ = ["STATIC_DIR", "install", "router"]
