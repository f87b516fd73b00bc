"""The two HTML shells and the static files they load.

The shells are filled with :class:`string.Template` (the version, for cache busting, and
nothing else): everything a person sees is fetched by the page's JavaScript from the API,
so there is no server-side rendering of user data and no template engine dependency.
Every page answer carries a Content-Security-Policy that allows only this origin's
scripts, styles and connections (``ws:``/``wss:`` for the message stream): the API key
lives in the browser's storage, and no injected script may read it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from string import Template

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from smslocker import __version__

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"

#: Scripts, styles, images and connections from this origin only; no inline script.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


@cache
def _page(name: str) -> str:
    template = Template((TEMPLATES_DIR / name).read_text(encoding="utf-8"))
    return template.substitute(version=__version__)


@router.get("/", response_class=HTMLResponse)
async def renter_page() -> HTMLResponse:
    """The renter's page: sign in, pick country and service, rent, watch the code come."""
    return HTMLResponse(_page("renter.html"), headers=HEADERS)


@router.get("/console", response_class=HTMLResponse)
async def console_page() -> HTMLResponse:
    """The operator's console (its data needs an admin key; the shell itself is public)."""
    return HTMLResponse(_page("console.html"), headers=HEADERS)


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC_DIR)
