"""``smslocker demo``: the whole platform on the embedded default, on one machine.

One command (``make demo``) and nothing by hand: the migrations, the built-in SMSC
simulator (SMPP and its HTTP API), a connector bound to it, a demo pool of a few dozen
numbers in several countries, an admin and a user with their keys (see
:mod:`smslocker.demo_seed`), then everything ``smslocker serve`` runs (the API, the
connectors, the sweeper, the webhook worker: :func:`smslocker.serve.serve_platform`).
``--traffic`` adds services sending codes to the rented numbers
(:mod:`smslocker.demo_traffic`).

Output, on stdout: ``serve``'s ready line (JSON), then a banner for people: the URLs,
the two keys and the next steps. The URLs and keys also go to ``demo.env`` in the data
folder, for a shell to ``source`` (the README's walk-through starts there). SIGINT
(Ctrl-C) or SIGTERM stops the traffic, then the platform, then the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

if TYPE_CHECKING:
    from smslocker.demo_seed import DemoKeys
    from smslocker.platform import Platform
    from smslocker.settings import Settings
    from smslocker.simulator import Simulator

#: Seconds to wait for the connector to bind before the banner says it is not bound.
BIND_TIMEOUT_S = 20.0
#: The demo's policy, where the settings give none: a released number is back after a
#: minute (not half an hour) and a service may have a number again after ten minutes
#: (not thirty days), so the walk-through can be played again and again on a pool of a
#: few dozen numbers.
DEMO_POLICY = {"cooldown_s": 60, "service_rotation_s": 600}


@dataclass(frozen=True, slots=True)
class DemoOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    smpp_port: int = 2775
    sim_http_port: int = 8775
    traffic: bool = False
    traffic_interval: float = 5.0


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo_command)


def demo_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="API address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="API port (0: any free).")
    ] = 8000,
    smpp_port: Annotated[
        int, typer.Option("--smpp-port", min=0, max=65535, help="Simulator SMPP port.")
    ] = 2775,
    sim_http_port: Annotated[
        int, typer.Option("--sim-http-port", min=0, max=65535, help="Simulator HTTP port.")
    ] = 8775,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data folder (default: SMSLOCKER_DATA_DIR, ./data)."),
    ] = None,
    traffic: Annotated[
        bool, typer.Option("--traffic", help="Play services sending codes to rented numbers.")
    ] = False,
    traffic_interval: Annotated[
        float, typer.Option("--traffic-interval", min=0.05, help="Seconds between rounds.")
    ] = 5.0,
) -> None:
    """Run the whole platform with the SMSC simulator, a demo pool and demo keys."""
    from smslocker.serve import CannotListen
    from smslocker.store.cli import settings_of

    settings = demo_settings(settings_of(ctx))
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    options = DemoOptions(host, port, smpp_port, sim_http_port, traffic, traffic_interval)
    try:
        asyncio.run(run_demo(settings, options))
    except CannotListen as error:
        typer.echo(f"smslocker demo: {error}", err=True)
        raise typer.Exit(code=1) from error


def demo_settings(settings: Settings) -> Settings:
    """``settings`` with :data:`DEMO_POLICY` for what they leave at the default."""
    policy = settings.policy
    changes = {
        name: value for name, value in DEMO_POLICY.items() if name not in policy.model_fields_set
    }
    return settings.model_copy(update={"policy": policy.model_copy(update=changes)})


async def run_demo(
    settings: Settings,
    options: DemoOptions,
    *,
    stop: asyncio.Event | None = None,
    out: TextIO | None = None,
) -> None:
    """Seed and run the demo until ``stop`` is set (default: until SIGINT or SIGTERM)."""
    from smslocker.platform import open_platform
    from smslocker.serve import CannotListen
    from smslocker.simulator import Account, Simulator, SimulatorConfig
    from smslocker.simulator.http import HttpApi

    from . import demo_seed

    out = out or sys.stdout
    signals = None
    if stop is None:
        stop = asyncio.Event()
        signals = asyncio.create_task(_stop_on_signal(stop), name="demo-signals")
    simulator = Simulator(
        SimulatorConfig(
            port=options.smpp_port,
            accounts=(Account(demo_seed.SYSTEM_ID, demo_seed.PASSWORD),),
        )
    )
    sim_api = HttpApi(simulator, "127.0.0.1", options.sim_http_port)
    platform = await open_platform(settings)  # migrations applied
    serving = False  # from then on, serve_platform closes the platform
    try:
        try:
            await simulator.start()
            await sim_api.start()
        except OSError as error:  # a port taken, most likely
            raise CannotListen(
                f"cannot start the SMSC simulator (SMPP port {options.smpp_port}, HTTP port "
                f"{options.sim_http_port}): {error.strerror or error}"
            ) from error
        now = platform.now()
        await demo_seed.ensure_connector(platform.db, simulator.port, now)
        pool = await demo_seed.import_demo_pool(platform.db, now)
        keys = await demo_seed.ensure_keys(platform.db, settings.data_dir, now)
        serving = True
        await _serve(platform, options, simulator, sim_api.port, keys, pool.rows, stop, out)
    finally:
        if signals is not None:
            signals.cancel()
        if not serving:
            await platform.close()
        # After serve: the connector has unbound, nothing is left in flight.
        await sim_api.stop()
        await simulator.stop(timeout=1.0)


async def _serve(
    platform: Platform,
    options: DemoOptions,
    simulator: Simulator,
    sim_http_port: int,
    keys: DemoKeys,
    pool_size: int,
    stop: asyncio.Event,
    out: TextIO,
) -> None:
    """``serve`` on the seeded platform; the banner once it is ready and bound; the
    traffic player while it runs."""
    from smslocker.serve import serve_platform

    from . import demo_seed, demo_traffic

    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve_platform(
            platform,
            host=options.host,
            port=options.port,
            stop=stop,
            out=out,
            on_ready=ready.set_result,
        ),
        name="demo-serve",
    )
    player: asyncio.Task[None] | None = None
    try:
        first: set[asyncio.Future[Any]] = {server, ready}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            await server  # it ended before it was ready: raise its error
            return
        bound = await _wait_bound(simulator, stop)
        sim_url = f"http://127.0.0.1:{sim_http_port}"
        env_path = demo_seed.write_env_file(
            platform.settings.data_dir,
            {
                "SMSLOCKER_URL": ready.result(),
                "SIMULATOR_URL": sim_url,
                "KEY": keys.user_key,
                "ADMIN_KEY": keys.admin_key,
                "SMSLOCKER_API_KEY": keys.user_key,  # the Python SDK's (smslocker.client)
            },
        )
        banner = Banner(
            url=ready.result(),
            sim_url=sim_url,
            smpp_port=simulator.port,
            keys=keys,
            pool_size=pool_size,
            bound=bound,
            env_path=env_path,
            traffic=options.traffic_interval if options.traffic else None,
        )
        out.write(banner.text())
        out.flush()
        if options.traffic:
            player = asyncio.create_task(
                demo_traffic.play(
                    platform.db,
                    simulator.inject_mo,
                    platform.now,
                    interval=options.traffic_interval,
                ),
                name="demo-traffic",
            )
        await server
    finally:
        if player is not None:
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player
        stop.set()
        if not server.done():
            await server


async def _wait_bound(simulator: Simulator, stop: asyncio.Event) -> bool:
    """The connector bound to the simulator (False when it did not in time, or the demo
    is stopping: Ctrl-C during the wait stops at once)."""
    bound = asyncio.ensure_future(simulator.wait_for_receiver())
    stopping = asyncio.ensure_future(stop.wait())
    waiting: set[asyncio.Future[Any]] = {bound, stopping}
    await asyncio.wait(waiting, timeout=BIND_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    for future in waiting:
        future.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    return bound.done() and not bound.cancelled() and bound.exception() is None


async def _stop_on_signal(stop: asyncio.Event) -> None:
    from smslocker.signals import wait_for_stop_signal

    await wait_for_stop_signal()
    stop.set()


@dataclass(frozen=True, slots=True)
class Banner:
    """What a person sees once the demo runs: where things are, the keys, what next."""

    url: str
    sim_url: str
    smpp_port: int
    keys: DemoKeys
    pool_size: int
    bound: bool
    env_path: Path
    traffic: float | None

    def text(self) -> str:
        from . import demo_seed

        countries = len(demo_seed.DEMO_NUMBERS)
        connector = "bound" if self.bound else "NOT bound yet (see the log)"
        traffic = (
            f"  traffic     on: services text the active rentals every {self.traffic:g} s\n"
            if self.traffic
            else "  traffic     off (make demo DEMO_ARGS=--traffic plays services sending codes)\n"
        )
        env = _shown_path(self.env_path)
        return (
            "\nsmslocker demo is running (Ctrl-C stops it)\n\n"
            f"  API         {self.url}/api/v1   (docs {self.url}/docs)\n"
            f"  web         {self.url}/   (operator console {self.url}/console)\n"
            f"  simulator   SMPP 127.0.0.1:{self.smpp_port}, "
            f"inject SMS: POST {self.sim_url}/mo\n"
            f"  pool        {self.pool_size} numbers in {countries} countries, "
            f"connector {demo_seed.CONNECTOR} {connector}\n"
            f"  admin key   {self.keys.admin_key}\n"
            f"  user key    {self.keys.user_key}   "
            f"({demo_seed.USER_ACCOUNT}, {self.keys.user_balance} credits)\n"
            f"  user login  {demo_seed.USER_ACCOUNT} / {self.keys.user_password}   "
            "(the web page's password sign-in)\n"
            f"{traffic}"
            f"  URLs and keys for a shell: source {env}\n\n"
            "Next steps, in another terminal (README.md: Rent a number and receive a code):\n"
            f"  source {env}\n"
            '  curl -s -H "Authorization: Bearer $KEY" "$SMSLOCKER_URL/api/v1/numbers"\n'
            '  curl -s -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \\\n'
            '       -d \'{"country": "GB", "service": "google"}\' '
            '"$SMSLOCKER_URL/api/v1/rentals"\n'
            '  .venv/bin/smslocker send --simulator "$SIMULATOR_URL" --source Google '
            '--destination NUMBER --text "G-482913 is your Google verification code."\n'
            '  curl -s -H "Authorization: Bearer $KEY" '
            '"$SMSLOCKER_URL/api/v1/rentals/RENTAL_ID/code?wait=30"\n\n'
        )


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it (shorter to type)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


__all__ = ["DEMO_POLICY", "Banner", "DemoOptions", "demo_settings", "register", "run_demo"]
