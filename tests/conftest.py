"""Project-wide test setup.

- Hypothesis profiles: ``ci`` (the default) and ``fuzz`` (many examples; ``make fuzz``),
  chosen with ``HYPOTHESIS_PROFILE``.
- Strict async: pytest-timeout gives every test a timeout (``timeout`` in pyproject.toml),
  and ``_fail_on_event_loop_errors`` fails a test whose event loop reported an error that
  nobody handled ("Task exception was never retrieved" and the like).
- ``running_in_ci()`` / the ``in_ci`` fixture: ``CI=true``, as CI sets it.
- Service addresses: ``postgres_url`` and ``redis_url`` skip when the service is not
  reachable, but fail under CI, where it must be.
- ``node_interop_dir``: the node SMPP peers of ``make interop-deps``; same skip/fail rule.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import structlog
from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]

# --------------------------------------------------------------------------- CI


from ci_support import running_in_ci, skip_or_fail  # noqa: E402


@pytest.fixture
def cli_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A working folder for CLI tests (see ``cli_support``): no ``SMSLOCKER_*`` variables
    from the shell, ``SMSLOCKER_DATA_DIR`` at ``data/`` inside it, fresh settings."""
    from smslocker.settings import get_settings

    for name in list(os.environ):
        if name.startswith("SMSLOCKER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSLOCKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMSLOCKER_LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def in_ci() -> bool:
    return running_in_ci()


# --------------------------------------------------------------------------- hypothesis

# Deadlines are off: a shared 2-core CI machine makes timing-based failures noise.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile(
    "fuzz",
    deadline=None,
    print_blob=True,
    max_examples=int(os.environ.get("SMSLOCKER_FUZZ_EXAMPLES", "20000")),
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --------------------------------------------------------------------------- strict async


class _EventLoopErrorRecorder(logging.Handler):
    """Keeps what asyncio's default exception handler logs.

    Every event loop without a custom exception handler reports unhandled errors through
    ``loop.default_exception_handler``, which logs them at ERROR on the ``asyncio`` logger:
    "Task exception was never retrieved", "Future exception was never retrieved",
    "Exception in callback ...", "Task was destroyed but it is pending!". Listening on that
    logger covers every loop a test touches: pytest-asyncio's, one made by
    ``asyncio.run`` inside a sync test, and tasks garbage-collected after their loop closed.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_event_loop_errors() -> Iterator[None]:
    # Autouse fixtures are set up before pytest-asyncio's loop and so torn down after it
    # is closed: errors reported while the loop shuts down are still seen here.
    asyncio_logger = logging.getLogger("asyncio")
    recorder = _EventLoopErrorRecorder()
    asyncio_logger.addHandler(recorder)
    try:
        yield
        # "never retrieved" is reported when the task or future is garbage-collected.
        gc.collect()
    finally:
        asyncio_logger.removeHandler(recorder)
    if recorder.records:
        reports = "\n\n".join(_describe(record) for record in recorder.records)
        pytest.fail(f"the event loop reported unhandled errors:\n\n{reports}", pytrace=False)


def _describe(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        text += f"\n{type(error).__name__}: {error}"
    return text


# --------------------------------------------------------------------------- logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Undo ``configure_logging`` (the CLI calls it) so tests don't see each other's setup."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


# --------------------------------------------------------------------------- services


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL database for the test (``SMSLOCKER_TEST_POSTGRES_URL``)."""
    url = os.environ.get("SMSLOCKER_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
    if not _reachable(url, 5432):
        skip_or_fail(f"PostgreSQL not reachable at {url} (set SMSLOCKER_TEST_POSTGRES_URL)")
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis server for the test (``SMSLOCKER_TEST_REDIS_URL``)."""
    url = os.environ.get("SMSLOCKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if not _reachable(url, 6379):
        skip_or_fail(f"Redis not reachable at {url} (set SMSLOCKER_TEST_REDIS_URL)")
    return url


NODE_INTEROP_DIR = Path(__file__).parent / "interop" / "node"


@pytest.fixture(scope="session")
def node_interop_dir() -> Path:
    """``tests/interop/node`` with its npm packages installed (``make interop-deps``)."""
    if shutil.which("node") is None:
        skip_or_fail("node is not installed")
    if not (NODE_INTEROP_DIR / "node_modules" / "smpp").is_dir():
        skip_or_fail(f"node peers not installed: run `make interop-deps` ({NODE_INTEROP_DIR})")
    return NODE_INTEROP_DIR


# --------------------------------------------------------------------------- databases

from db_support import migrated_database, postgres_async_url  # noqa: E402

__all__ = ["migrated_database", "postgres_async_url"]


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A migrated :class:`smslocker.store.Database`, once on SQLite and once on PostgreSQL."""
    pg_url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    async with migrated_database(request.param, tmp_path, pg_url) as database:
        yield database


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Any]:
    """A migrated SQLite database only (for what is specific to the embedded default)."""
    async with migrated_database("sqlite", tmp_path, None) as database:
        yield database


@pytest.fixture
async def postgres_database(postgres_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A migrated PostgreSQL schema only (row-lock races and the like)."""
    async with migrated_database("postgres", tmp_path, postgres_url) as database:
        yield database
