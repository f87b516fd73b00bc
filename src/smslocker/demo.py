"""``smslocker demo``: the whole platform on the embedded default, on one machine.

Today that is the SMSC simulator (SMPP and its HTTP API) with a connector bound
to it, printing every inbound SMS as a JSON line; ``--traffic`` plays services
sending one-time codes to the demo numbers. Later issues add storage, rentals
and the API to the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys

from smslocker.gateway import Connector, ConnectorConfig
from smslocker.gateway.listen import PrintSink
from smslocker.log import get_logger
from smslocker.settings import Settings
from smslocker.simulator import Account, Simulator, SimulatorConfig
from smslocker.simulator.http import HttpApi

log = get_logger(__name__)

#: Demo numbers in several countries (fictional ranges where the country has them).
DEMO_NUMBERS = (
    "+14155550101",
    "+14155550102",
    "+447700900101",
    "+447700900102",
    "+4915510000101",
    "+33612345601",
    "+34612345601",
    "+5511912345601",
    "+919812345601",
    "+61491570101",
)

#: (sender, template) pairs of services sending one-time codes.
DEMO_SERVICES = (
    ("Google", "G-{code} is your Google verification code."),
    ("WhatsApp", "Your WhatsApp code: {code_dash}\nDon't share this code with others"),
    ("Telegram", "Telegram code: {code}\n\nYou can also tap on this link to log in."),
    ("Microsoft", "Use {code} as Microsoft account security code"),
    ("Uber", "Your Uber code: {code}. Never share this code. Reply STOP to unsubscribe."),
    ("Amazon", "{code} is your Amazon OTP. Do not share it with anyone.\n\n@amazon.com #{code}"),
    ("Revolut", "Revolut: ваш код подтверждения {code}. Никому его не сообщайте."),
    ("Shopee", "【Shopee】您的验证码是 {code}，5分钟内有效。 🔐"),
)

SYSTEM_ID = "demo"
PASSWORD = "demo"


def demo_otp(rng: random.Random) -> tuple[str, str]:
    """One (sender, text) a service might send."""
    sender, template = rng.choice(DEMO_SERVICES)
    code = f"{rng.randrange(10**6):06d}"
    return sender, template.format(code=code, code_dash=f"{code[:3]}-{code[3:]}")


async def run_demo(
    settings: Settings, *, smpp_port: int, http_port: int, traffic: float | None
) -> None:
    """Run until SIGINT/SIGTERM."""
    settings.ensure_data_dir()
    simulator = Simulator(SimulatorConfig(port=smpp_port, accounts=(Account(SYSTEM_ID, PASSWORD),)))
    await simulator.start()
    api = HttpApi(simulator, "127.0.0.1", http_port)
    await api.start()
    connector = Connector(
        ConnectorConfig(
            name="demo-sim",
            host="127.0.0.1",
            port=simulator.port,
            system_id=SYSTEM_ID,
            password=PASSWORD,
        ),
        PrintSink(sys.stdout),
    )
    connector.start()
    await connector.wait_bound(timeout=10)
    print(
        "\nsmslocker demo is running (Ctrl-C stops it).\n"
        f"  SMSC simulator: SMPP 127.0.0.1:{simulator.port}, HTTP http://127.0.0.1:{api.port}\n"
        "  A connector is bound to it and prints every inbound SMS below as a JSON line.\n"
        "  Send one from another terminal:\n"
        f"    .venv/bin/smslocker send --simulator http://127.0.0.1:{api.port} "
        f'--source Google --destination {DEMO_NUMBERS[0]} --text "G-123456 is your code"\n',
        file=sys.stderr,
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    player = loop.create_task(_play(simulator, traffic)) if traffic else None
    try:
        await stop.wait()
    finally:
        if player is not None:
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player
        await connector.stop()
        await api.stop()
        await simulator.stop()


async def _play(simulator: Simulator, interval: float) -> None:
    """Services sending codes to demo numbers, one every ``interval`` seconds on average."""
    rng = random.Random()
    while True:
        await asyncio.sleep(rng.expovariate(1 / interval))
        sender, text = demo_otp(rng)
        simulator.inject_mo(sender, rng.choice(DEMO_NUMBERS), text)
