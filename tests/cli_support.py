"""Running the ``smslocker`` CLI in tests: a clean environment and one invocation helper.

The ``cli_home`` fixture (``tests/conftest.py``) gives a working folder with no
``SMSLOCKER_*`` variable from the developer's shell, the data folder at ``data/`` inside
it, and the settings cache cleared before and after; :func:`run` invokes the CLI there.
"""

from __future__ import annotations

from typer.testing import CliRunner

from smslocker.cli import app


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    """``smslocker ARGS`` in-process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


__all__ = ["run"]
