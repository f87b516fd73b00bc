"""``smslocker demo --traffic``: services sending one-time codes to rented numbers.

Every ``interval`` seconds the player reads the active rentals from the database and,
for each, with probability ``chance``, has a service send a code to its number through
the simulator, as a carrier would deliver it: the message takes the whole path
(SMPP deliver_sm, ingest, routing to the rental, push), so a renter watching a rental
sees codes arrive without sending anything. A rental for a service the player knows
(``google``, ``whatsapp``, ...) gets that service's messages.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from smslocker.log import get_logger
from smslocker.rentals import RentalStatus
from smslocker.store.db import Database
from smslocker.store.models import Rental

log = get_logger(__name__)

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

#: Sends one MO message (source, destination, text) through the simulator.
Inject = Callable[[str, str, str], object]


def demo_otp(rng: random.Random, service: str | None = None) -> tuple[str, str]:
    """One (sender, text) a service might send: ``service``'s own when it is one of
    :data:`DEMO_SERVICES` (case-blind), else any of them."""
    known = [entry for entry in DEMO_SERVICES if service and entry[0].lower() == service.lower()]
    sender, template = known[0] if known else rng.choice(DEMO_SERVICES)
    code = f"{rng.randrange(10**6):06d}"
    return sender, template.format(code=code, code_dash=f"{code[:3]}-{code[3:]}")


@dataclass(frozen=True, slots=True)
class ActiveRental:
    id: str
    number: str
    service: str | None


async def active_rentals(db: Database, now: datetime) -> list[ActiveRental]:
    """The rentals a message sent now would reach."""
    query = select(Rental.id, Rental.number, Rental.service).where(
        Rental.status == RentalStatus.ACTIVE.value, Rental.expires_at > now
    )
    async with db.read() as connection:
        rows = (await connection.execute(query.order_by(Rental.started_at))).all()
    return [ActiveRental(row.id, row.number, row.service) for row in rows]


async def play_once(
    db: Database, inject: Inject, rng: random.Random, now: datetime, chance: float
) -> int:
    """One round: a code to each active rental with probability ``chance``; how many."""
    sent = 0
    for rental in await active_rentals(db, now):
        if rng.random() >= chance:
            continue
        sender, text = demo_otp(rng, rental.service)
        inject(sender, rental.number, text)
        log.info("demo.traffic", rental_id=rental.id, sender=sender)
        sent += 1
    return sent


async def play(
    db: Database,
    inject: Inject,
    clock: Callable[[], datetime],
    *,
    interval: float,
    chance: float = 0.5,
    rng: random.Random | None = None,
) -> None:
    """Rounds of :func:`play_once` every ``interval`` seconds, until cancelled. A failed
    round (the database busy, the simulator refusing a text) is logged and skipped."""
    rng = rng or random.Random()
    while True:
        await asyncio.sleep(interval)
        try:
            await play_once(db, inject, rng, clock(), chance)
        except Exception as error:  # a demo nicety: never the reason the demo stops
            log.warning("demo.traffic_failed", error=repr(error))


__all__ = ["DEMO_SERVICES", "ActiveRental", "active_rentals", "demo_otp", "play", "play_once"]
