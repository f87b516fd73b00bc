"""Structured logging for the whole process.

Logs always go to stderr: stdout is reserved for data (``smslocker listen`` prints one JSON
line per message there). ``log_format = "json"`` gives one JSON object per line for
machines; ``"console"`` gives aligned, coloured lines for people.

Our own code logs through structlog (``get_logger(__name__)``). Records from the standard
library's ``logging`` (uvicorn, httpx, asyncio, ...) go through a handler on the root logger
that renders them with the same processors, so both kinds come out in one format.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from smslocker.settings import Settings

_HANDLER_NAME = "smslocker"


class _StreamLogger:
    """Writes rendered lines to a stream, and knows the name given to ``get_logger(name)``.

    With ``stream=None`` it writes to ``sys.stderr`` as it is at each write, not as it was
    when the logger was made: a cached module-level logger then follows pytest's and
    CliRunner's swaps of ``sys.stderr`` instead of writing to a stream they have closed.
    """

    _lock = threading.Lock()

    def __init__(self, stream: TextIO | None, name: str | None) -> None:
        self._stream = stream
        self.name = name

    def msg(self, message: str) -> None:
        stream = sys.stderr if self._stream is None else self._stream
        with self._lock:
            stream.write(message + "\n")
            stream.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


class _StreamLoggerFactory:
    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def __call__(self, *args: Any) -> _StreamLogger:
        name = args[0] if args and isinstance(args[0], str) else None
        return _StreamLogger(self._stream, name)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """A handler that writes to ``sys.stderr`` as it is at each record (as above)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: this handler always follows ``sys.stderr``."""


def _add_logger_name(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    name = record.name if record is not None else getattr(logger, "name", None)
    if name:
        event_dict.setdefault("logger", name)
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(log_format: str, stream: TextIO) -> Processor:
    if log_format == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=stream.isatty())


def configure_logging(
    settings: Settings,
    *,
    stream: TextIO | None = None,
    cache_loggers: bool = True,
) -> None:
    """Configure structlog and the standard library's logging from ``settings``.

    Safe to call again (tests do): the handler it installed before is replaced.
    ``stream`` defaults to ``sys.stderr`` (whatever ``sys.stderr`` is at each write).
    ``cache_loggers=False`` lets a later reconfiguration (``structlog.testing.capture_logs``)
    reach loggers that were already used; caching is what a long-running process wants.
    """
    level = logging.getLevelNamesMapping()[settings.log_level]
    shared = _shared_processors()
    exceptions: list[Processor] = (
        [structlog.processors.dict_tracebacks] if settings.log_format == "json" else []
    )
    renderer = _renderer(settings.log_format, sys.stderr if stream is None else stream)

    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            *exceptions,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_StreamLoggerFactory(stream),
        cache_logger_on_first_use=cache_loggers,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exceptions,
            renderer,
        ],
    )
    handler = _StderrHandler() if stream is None else logging.StreamHandler(stream)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def get_logger(name: str | None = None, **initial_values: Any) -> FilteringBoundLogger:
    """A structlog logger; ``name`` (usually ``__name__``) shows as the ``logger`` key.

    Safe at import time (``log = get_logger(__name__)``): the logger takes its
    configuration when first used, so after :func:`configure_logging`.
    """
    args = () if name is None else (name,)
    logger: FilteringBoundLogger = structlog.get_logger(*args, **initial_values)
    return logger
