"""``smslocker privacy status | rotate-key | reencrypt | drop-key``."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from cli_support import run


@pytest.fixture
def data_dir(cli_home: Path) -> Path:
    return cli_home / "data"


def test_rotation_from_the_shell(data_dir: Path) -> None:
    code, out, _ = run("privacy", "status")
    assert code == 0, out
    key_file = data_dir / "keys" / "message-keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    [first] = re.findall(r"key (k\w+) \(primary\): 0 bodies", out)
    assert "in clear: 0 bodies" in out

    code, out, _ = run("privacy", "rotate-key")
    assert code == 0
    [second] = re.findall(r"new primary key (k\w+)", out)
    code, out, _ = run("privacy", "status")
    assert f"key {second} (primary)" in out
    assert f"key {first}: 0 bodies" in out

    code, out, _ = run("privacy", "reencrypt")
    assert (code, out.strip()) == (0, "resealed 0 bodies, sealed 0 in clear")
    code, _, err = run("privacy", "drop-key", second)
    assert code == 1
    assert "primary" in err
    code, out, _ = run("privacy", "drop-key", first)
    assert code == 0
    assert first not in run("privacy", "status")[1]
