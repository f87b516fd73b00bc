"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.responses import JSONResponse, Response

from ..deps import PlatformDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can serve: its database answers")
async def readyz(platform: PlatformDep) -> Response:
    try:
        async with platform.db.read() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not ready", with the reason
        return JSONResponse(
            {"status": "unavailable", "database": type(error).__name__}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
