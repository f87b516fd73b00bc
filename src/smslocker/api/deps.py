"""Reaching the :class:`~smslocker.platform.Platform` from a request or a WebSocket."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from smslocker.platform import Platform


def platform_of(connection: HTTPConnection) -> Platform:
    platform = connection.app.state.platform
    assert isinstance(platform, Platform)
    return platform


def _platform(connection: HTTPConnection) -> Platform:
    return platform_of(connection)


PlatformDep = Annotated[Platform, Depends(_platform)]
