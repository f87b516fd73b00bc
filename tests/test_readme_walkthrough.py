"""The README's walk-throughs, run as they are written.

"Rent a number and receive a code": the block between ``<!-- walkthrough`` and
``<!-- /walkthrough -->`` is run by bash, in order, against ``smslocker demo`` started
on free ports (the commands find the URLs and keys in ``data/demo.env``, which the demo
writes). "Python SDK": its first shell and Python blocks, against the demo with
``--traffic`` (the player sends the code). Bash runs in a stand-in for the top of the
repository: a folder whose ``.venv/bin`` is the scripts folder of the Python running
the tests, so ``.venv/bin/smslocker`` is this checkout's command, and where the demo
keeps its ``data/``, without writing into the checkout.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from demo_support import demo_environment, running_demo
from smslocker.demo_seed import DEMO_NUMBERS, demo_numbers

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(
    r"<!-- walkthrough\b.*?-->\s*```(?:sh|bash)\n(.*?)```\s*<!-- /walkthrough -->", re.S
)
#: Seconds the walk-through may take (its two long-polls wait up to 10 s each).
RUN_S = 60.0

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl"),
    pytest.mark.skipif(shutil.which("bash") is None, reason="the walk-through is bash"),
]


def sdk_example() -> tuple[str, str]:
    """The Python SDK section's first shell block and first Python block."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python SDK") :]
    shell = re.search(r"```sh\n(.*?)```", section, re.S)
    python = re.search(r"```python\n(.*?)```", section, re.S)
    assert shell is not None
    assert python is not None
    return shell.group(1), python.group(1)


def walkthrough() -> str:
    """The walk-through's shell block, as the README has it."""
    found = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md must have exactly one <!-- walkthrough --> sh block"
    return str(found[0])


def test_the_walkthrough_block_is_found_and_uses_what_the_demo_provides() -> None:
    script = walkthrough()
    assert 'source "${SMSLOCKER_DATA_DIR:-data}/demo.env"' in script
    for step in ("/api/v1/numbers", "/api/v1/rentals", "/mo", "/code?wait=", "/release"):
        assert step in script
    assert ".venv/bin/smslocker send" in script
    # What the README says the demo pool is, it is.
    pool = f"{len(demo_numbers())} numbers in {len(DEMO_NUMBERS)} countries"
    assert pool in README.read_text(encoding="utf-8")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A stand-in for the top of the repository (see the module docstring); the demo
    keeps its data in ``data/`` there, the default."""
    folder = tmp_path / "checkout"
    (folder / ".venv").mkdir(parents=True)
    (folder / ".venv" / "bin").symlink_to(sysconfig.get_path("scripts"))
    return folder


async def run_bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    """``script`` run by bash, stopping at the first failure; its stdout."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        "set -euo pipefail\n" + script,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), RUN_S)
    output = out.decode()
    assert process.returncode == 0, f"stdout:\n{output}\nstderr:\n{err.decode()}"
    return output


def shell_environment(env: dict[str, str]) -> dict[str, str]:
    """What a new user's shell has: no SMSLOCKER_* (the walk-through's ``source`` sets
    them), the data folder being the default ``data/``."""
    return {name: value for name, value in env.items() if not name.startswith("SMSLOCKER_")}


async def test_readme_walkthrough_rents_a_number_and_receives_the_code(
    tmp_path: Path, checkout: Path
) -> None:
    env = demo_environment(checkout / "data")
    async with running_demo(tmp_path / "demo", env) as demo:
        output = await run_bash(walkthrough(), checkout, shell_environment(env))

        # The first code (step 4), the one sent after it (step 5), and the release.
        answers = _json_documents(output)
        codes = [answer["code"] for answer in answers if "code" in answer]
        assert codes == ["482913", "731044"]
        availability = answers[0]
        assert availability["total"] >= 1
        assert {group["country"] for group in availability["available"]} == {"GB"}
        rental = answers[1]
        assert rental["country"] == "GB"
        assert rental["status"] == "active"
        messages = next(answer["messages"] for answer in answers if "messages" in answer)
        assert [message["source"] for message in messages] == ["Google", "Google"]
        assert {message["destination"] for message in messages} == {rental["number"]}
        released = answers[-1]
        assert released["id"] == rental["id"]
        assert released["status"] == "completed"
    assert demo.returncode == 0


async def test_readme_sdk_example_gets_a_code_from_the_demo_traffic(
    tmp_path: Path, checkout: Path
) -> None:
    """The Python SDK section's example against ``make demo DEMO_ARGS=--traffic``: the
    traffic player sends the rented number its code, nobody else does."""
    shell, python = sdk_example()
    env = demo_environment(checkout / "data")
    script = f"{shell}\n\"$PYTHON\" - <<'EXAMPLE'\n{python}EXAMPLE\n"
    async with running_demo(tmp_path / "demo", env, "--traffic", "--traffic-interval", "0.3"):
        shell_env = {**shell_environment(env), "PYTHON": sys.executable}
        output = await run_bash(script, checkout, shell_env)
    assert re.search(r"^code: \d{4,8}$", output, re.M), output
    assert "numbers free" in output


def _json_documents(output: str) -> list[dict[str, object]]:
    """The JSON objects of the walk-through's output, in order (``json.tool``'s pretty
    ones and the simulator's one-line answer)."""
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while True:
        start = output.find("{", index)
        if start < 0:
            return documents
        document, index = decoder.raw_decode(output, start)
        if isinstance(document, dict) and "parts" not in document:  # skip the /mo answers
            documents.append(document)
