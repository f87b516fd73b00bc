"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API gives has the same shape: ``type`` (a stable URI naming the kind of
problem, which clients can switch on), ``title``, ``status``, ``detail`` (a sentence for
people) and, for validation errors, ``errors`` (what was wrong where). Domain errors are
translated here, at the boundary, so the domain packages know nothing of HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from smslocker import rentals
from smslocker.log import get_logger

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://smslocker.dev/problems/"

log = get_logger(__name__)


class Problem(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.title = title or kind.replace("-", " ").capitalize()
        self.headers = dict(headers or {})
        self.extra = extra

    def document(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": TYPE_BASE + self.kind,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(
        problem.document(instance),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


# Domain errors -> (status, kind). Another account's rental is "not found", never
# "forbidden": the answer must not tell that the id exists.
_DOMAIN: dict[type[Exception], tuple[int, str]] = {
    rentals.InvalidRequest: (422, "invalid-request"),
    rentals.AccountNotFound: (404, "account-not-found"),
    rentals.InsufficientCredit: (402, "insufficient-credit"),
    rentals.NoNumberAvailable: (409, "no-number-available"),
    rentals.NumberNotFound: (404, "number-not-found"),
    rentals.NumberNotRentable: (409, "number-not-rentable"),
    rentals.RentalNotFound: (404, "rental-not-found"),
    rentals.RentalNotActive: (409, "rental-not-active"),
    rentals.RentalLimitReached: (422, "rental-limit-reached"),
}


def register_domain_error(error: type[Exception], status: int, kind: str) -> None:
    """Map another package's exception to a problem (routers call this at import)."""
    _DOMAIN[error] = (status, kind)


def from_domain(error: Exception) -> Problem | None:
    for cls in type(error).__mro__:
        if cls in _DOMAIN:
            status, kind = _DOMAIN[cls]
            return Problem(status, kind, str(error) or kind.replace("-", " "))
    return None


_STATUS_KINDS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


def install(app: FastAPI) -> None:
    """Make every error of ``app`` a problem document."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, error: Problem) -> JSONResponse:
        return problem_response(error, request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        kind = _STATUS_KINDS.get(error.status_code, "error")
        detail = error.detail if isinstance(error.detail, str) else kind.replace("-", " ")
        problem = Problem(error.status_code, kind, detail, headers=error.headers)
        return problem_response(problem, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": [str(part) for part in item.get("loc", ())],
                "message": item.get("msg", ""),
            }
            for item in error.errors()
        ]
        first = errors[0] if errors else {"location": [], "message": "invalid"}
        where = ".".join(first["location"][1:]) or ".".join(first["location"])
        detail = f"{where}: {first['message']}" if where else str(first["message"])
        problem = Problem(422, "validation-error", detail, errors=errors)
        return problem_response(problem, request)

    async def _domain(request: Request, error: Exception) -> JSONResponse:
        problem = from_domain(error)
        if problem is None:  # pragma: no cover - only registered classes reach here
            problem = Problem(500, "internal-error", "an internal error occurred")
        return problem_response(problem, request)

    # One handler per registered class (not one for Exception: Starlette treats that
    # as the server-error handler and re-raises after answering).
    for error_class in list(_DOMAIN):
        app.add_exception_handler(error_class, _domain)
