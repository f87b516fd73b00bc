"""The project's foundation: settings, logging, the CLI, and the rule that smpp/ is sans-I/O."""

from __future__ import annotations

import ast
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

import smslocker
from smslocker.cli import app
from smslocker.log import configure_logging, get_logger
from smslocker.settings import ConfigFileNotFoundError, Settings, get_settings

# --------------------------------------------------------------------------- settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No SMSLOCKER_* variables, and a working directory without a smslocker.toml."""
    for name in list(os.environ):
        if name.startswith("SMSLOCKER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_settings_defaults(clean_env: Path) -> None:
    settings = Settings()
    assert settings.data_dir == Path("./data")
    assert settings.log_level == "INFO"
    assert settings.log_format == "console"
    assert settings.database_url is None
    assert settings.redis_url is None


def test_ensure_data_dir_creates_it(clean_env: Path) -> None:
    settings = Settings(data_dir=clean_env / "nested" / "data")
    assert settings.ensure_data_dir() == clean_env / "nested" / "data"
    assert settings.data_dir.is_dir()
    settings.ensure_data_dir()  # a second time is fine


def test_settings_from_env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSLOCKER_DATA_DIR", "/var/lib/smslocker")
    monkeypatch.setenv("SMSLOCKER_LOG_LEVEL", "debug")
    monkeypatch.setenv("SMSLOCKER_LOG_FORMAT", "json")
    monkeypatch.setenv("SMSLOCKER_REDIS_URL", "redis://127.0.0.1:6379/1")
    settings = Settings()
    assert settings.data_dir == Path("/var/lib/smslocker")
    assert settings.log_level == "DEBUG"
    assert settings.log_format == "json"
    assert settings.redis_url == "redis://127.0.0.1:6379/1"


def test_settings_from_default_toml_file(clean_env: Path) -> None:
    (clean_env / "smslocker.toml").write_text('log_format = "json"\ndata_dir = "/srv/sms"\n')
    settings = Settings()
    assert settings.log_format == "json"
    assert settings.data_dir == Path("/srv/sms")


def test_settings_env_beats_toml_file(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = clean_env / "elsewhere.toml"
    config.write_text('log_level = "WARNING"\nlog_format = "json"\n')
    monkeypatch.setenv("SMSLOCKER_CONFIG", str(config))
    monkeypatch.setenv("SMSLOCKER_LOG_LEVEL", "ERROR")
    settings = Settings()
    assert settings.log_level == "ERROR"  # env wins
    assert settings.log_format == "json"  # from the file


def test_settings_missing_explicit_config_file_is_an_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMSLOCKER_CONFIG", str(clean_env / "missing.toml"))
    with pytest.raises(ConfigFileNotFoundError):
        Settings()


@pytest.mark.parametrize(
    ("text", "field"),
    [('log_levl = "INFO"\n', "log_levl"), ('log_format = "xml"\n', "log_format")],
)
def test_settings_reject_bad_toml(clean_env: Path, text: str, field: str) -> None:
    (clean_env / "smslocker.toml").write_text(text)
    with pytest.raises(ValueError, match=field):
        Settings()


def test_settings_reject_unknown_log_level(clean_env: Path) -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        Settings(log_level="LOUD")


# --------------------------------------------------------------------------- logging


def test_json_logs_are_one_object_per_line(clean_env: Path) -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=stream)

    get_logger("smslocker.test").info("message_received", destination="+15550001111")
    get_logger("smslocker.test").debug("filtered_out")
    logging.getLogger("third.party").warning("from %s", "stdlib")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["message_received", "from stdlib"]
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "smslocker.test"
    assert lines[0]["destination"] == "+15550001111"
    assert "timestamp" in lines[0]
    assert lines[1]["level"] == "warning"
    assert lines[1]["logger"] == "third.party"


def test_json_logs_render_exceptions(clean_env: Path) -> None:
    stream = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=stream)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        get_logger("smslocker.test").exception("failed")
    line = json.loads(stream.getvalue())
    assert line["exception"][0]["exc_type"] == "RuntimeError"


def test_console_logs_go_to_stderr_by_default(
    clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging(Settings(log_format="console"), cache_loggers=False)
    get_logger("smslocker.test").warning("to_stderr")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "to_stderr" in captured.err


def test_configure_logging_twice_keeps_one_handler(clean_env: Path) -> None:
    before = len(logging.getLogger().handlers)
    configure_logging(Settings(), stream=io.StringIO())
    configure_logging(Settings(), stream=io.StringIO())
    assert len(logging.getLogger().handlers) == before + 1
    assert structlog.is_configured()


# --------------------------------------------------------------------------- cli


def test_cli_version_option(clean_env: Path) -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"smslocker {smslocker.__version__}"


def test_cli_version_command(clean_env: Path) -> None:
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"smslocker {smslocker.__version__}"


def test_cli_reports_bad_settings(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMSLOCKER_LOG_FORMAT", "xml")
    result = CliRunner().invoke(app, ["version"])
    assert result.exit_code == 2
    assert "invalid settings" in result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- smpp is sans-I/O

SMPP_DIR = Path(smslocker.__file__).parent / "smpp"

# Modules that do I/O, wait, or run concurrently: the SMPP core gets bytes and `now` from
# its caller and must never reach for them itself (STYLE.md habit 1).
FORBIDDEN_MODULES = frozenset(
    {
        "asyncio",
        "anyio",
        "trio",
        "socket",
        "ssl",
        "select",
        "selectors",
        "threading",
        "multiprocessing",
        "subprocess",
        "concurrent",
        "time",
    }
)
# Reading a clock, whatever it is imported as: datetime.now(), time.monotonic(), ...
# (`datetime` itself is fine for types, timezone and timedelta.)
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        "now",
        "utcnow",
        "today",
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "perf_counter",
        "perf_counter_ns",
    }
)


def sans_io_violations(source: str, filename: str) -> list[str]:
    """Every import of an I/O module and every clock read in ``source``."""
    problems = []
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            problems.append(f"{filename}:{node.lineno}: reads a clock (.{node.attr})")
            continue
        else:
            continue
        problems += [
            f"{filename}:{node.lineno}: imports {module}"
            for module in modules
            if module.split(".")[0] in FORBIDDEN_MODULES
        ]
    return problems


def test_smpp_package_is_sans_io() -> None:
    files = sorted(SMPP_DIR.rglob("*.py"))
    assert files, f"no modules found under {SMPP_DIR}"
    problems = [
        problem
        for path in files
        for problem in sans_io_violations(path.read_text(encoding="utf-8"), str(path))
    ]
    assert not problems, "smpp/ must stay sans-I/O:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "import asyncio",
        "import socket as s",
        "from time import monotonic",
        "import concurrent.futures",
        "from datetime import datetime\nx = datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "import os\nx = os.times().time",
        "from trio import sleep",
    ],
)
def test_sans_io_check_catches(source: str) -> None:
    assert sans_io_violations(source, "example.py")


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime, timedelta, timezone",
        "import datetime\nUTC = datetime.timezone.utc",
        "import struct\nfrom dataclasses import dataclass",
        "from . import errors\nfrom .errors import DecodeError",
    ],
)
def test_sans_io_check_allows(source: str) -> None:
    assert not sans_io_violations(source, "example.py")


# --------------------------------------------------------------------------- strict async

STRICT_ASYNC_EXAMPLES = """
import asyncio


async def _boom() -> None:
    raise RuntimeError("nobody awaited me")


async def test_leaks_a_failed_task():
    task = asyncio.create_task(_boom())
    await asyncio.sleep(0)
    del task


def test_leaks_a_failed_task_in_a_sync_test():
    async def main():
        asyncio.get_running_loop().create_task(_boom())
        await asyncio.sleep(0)

    asyncio.run(main())


async def test_awaits_its_task():
    task = asyncio.create_task(_boom())
    try:
        await task
    except RuntimeError:
        pass


def test_sync_without_a_loop():
    pass
"""


def test_unretrieved_task_exceptions_fail_the_test(pytester: pytest.Pytester) -> None:
    root = Path(__file__).parent.parent
    here = Path(__file__).parent
    pytester.makeconftest((here / "conftest.py").read_text())
    # conftest.py imports its support modules: they travel with it.
    for support in ("ci_support", "db_support"):
        pytester.makepyfile(**{support: (here / f"{support}.py").read_text()})
    pytester.makepyprojecttoml((root / "pyproject.toml").read_text())
    pytester.makepyfile(test_examples=STRICT_ASYNC_EXAMPLES)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_examples.py")

    result.assert_outcomes(passed=4, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks_a_failed_task *",
            "*Task exception was never retrieved*",
            "*RuntimeError: nobody awaited me*",
        ]
    )
