"""The asyncio client: :class:`AsyncClient` and its :class:`AsyncRental` handles.

The same flows of :mod:`.protocol` as :mod:`.sync_client`, carried out with
``httpx.AsyncClient`` and ``asyncio.sleep``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Generator
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from . import parsing, protocol
from .errors import ConflictError, NetworkError, NotFoundError
from .models import Availability, Code, Message, RentalInfo, update_rental
from .protocol import POLL_S, Connection, Flow, Pause, Request

T = TypeVar("T")


class AsyncClient:
    """A connection to an smslocker server, as one API key, for asyncio code.

    Arguments as :class:`~smslocker.client.Client`; ``transport`` is an
    ``httpx.AsyncBaseTransport`` (``httpx.ASGITransport(app)`` calls an app in-process).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        poll_s: float = POLL_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        connection = Connection.resolve(base_url, api_key)
        self.base_url = connection.base_url
        self.poll_s = poll_s
        self._timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=connection.base_url,
            headers=dict(connection.headers),
            timeout=timeout,
            transport=transport,
        )

    def rent(
        self,
        country: str | None = None,
        service: str | None = None,
        *,
        carrier: str | None = None,
        number: str | None = None,
        duration_s: int | None = None,
    ) -> Renting:
        """Rent a number (arguments as :meth:`Client.rent`). Await it for the rental, or
        use it as an async context manager to release the rental when done::

            async with client.rent("US", "google") as rental:
                code = await rental.wait_for_code(timeout=120)
        """
        flow = protocol.rent(
            country=country, service=service, carrier=carrier, number=number, duration_s=duration_s
        )
        return Renting(self._rental_of(flow))

    async def rental(self, rental_id: str) -> AsyncRental:
        """One of the account's rentals, by id."""
        return await self._rental_of(protocol.get_rental(rental_id))

    async def rentals(
        self, *, status: str | None = None, service: str | None = None
    ) -> list[AsyncRental]:
        """The account's rentals, newest first (``status``: active, completed, ...)."""
        found = await self._run(protocol.list_rentals(status=status, service=service))
        return [AsyncRental(**asdict(info), client=self) for info in found]

    async def available(
        self,
        country: str | None = None,
        service: str | None = None,
        *,
        carrier: str | None = None,
    ) -> Availability:
        """How many numbers can be rented now, and at what price."""
        flow = protocol.available(country=country, service=service, carrier=carrier)
        return await self._run(flow)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _rental_of(self, flow: Flow[RentalInfo]) -> AsyncRental:
        return AsyncRental(**asdict(await self._run(flow)), client=self)

    async def _run(self, flow: Flow[T]) -> T:
        """Carry out ``flow``'s requests and pauses; its result."""
        try:
            step = next(flow)
            while True:
                answer = await self._do(step)
                step = flow.send(answer)
        except StopIteration as done:
            return cast(T, done.value)
        finally:
            flow.close()

    async def _do(self, step: Request | Pause) -> Any:
        if isinstance(step, Pause):
            await asyncio.sleep(step.seconds)
            return None
        timeout = httpx.Timeout(self._timeout, read=self._timeout + step.wait_s)
        try:
            response = await self._http.request(
                step.method, step.path, params=dict(step.params), json=step.json, timeout=timeout
            )
        except httpx.TransportError as error:
            raise NetworkError(f"{step.method} {step.path}: {error!r}") from error
        return parsing.decode(response)


class Renting:
    """The answer of :meth:`AsyncClient.rent`: awaitable (the rental), and an async
    context manager (the rental, released on exit)."""

    def __init__(self, renting: Coroutine[Any, Any, AsyncRental]) -> None:
        self._renting = renting
        self._rental: AsyncRental | None = None

    def __await__(self) -> Generator[Any, None, AsyncRental]:
        return self._renting.__await__()

    async def __aenter__(self) -> AsyncRental:
        self._rental = await self._renting
        return self._rental

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._rental is not None:
            await self._rental.__aexit__(exc_type, exc, traceback)


@dataclass(eq=False)
class AsyncRental(RentalInfo):
    """A rented number (as :class:`~smslocker.client.Rental`, with coroutines). As an
    async context manager it releases the rental on exit, unless it has ended already."""

    client: AsyncClient = field(repr=False, kw_only=True)

    async def refresh(self) -> AsyncRental:
        """Read the rental again (status, expiry, messages count)."""
        return await self._take(protocol.get_rental(self.id))

    async def extend(self, seconds: int | None = None) -> AsyncRental:
        """Make it last ``seconds`` longer (default: the server's standard length)."""
        return await self._take(protocol.extend(self.id, seconds))

    async def release(self) -> AsyncRental:
        """Done with the number (refunded in full if no SMS came)."""
        return await self._take(protocol.end(self.id, "release"))

    async def cancel(self) -> AsyncRental:
        """Give the number up (refunded in full if no SMS came)."""
        return await self._take(protocol.end(self.id, "cancel"))

    async def messages(self, *, after: int = 0) -> list[Message]:
        """All messages with an id above ``after``, oldest first."""
        return await self.client._run(protocol.messages(self.id, after=after))

    async def wait_for_message(self, timeout: float = 60.0, *, after: int | None = None) -> Message:
        """The first message with an id above ``after`` (the first message when None),
        waiting up to ``timeout`` s; raises :class:`~smslocker.client.WaitTimeout`."""
        flow = protocol.wait_for_message(
            self.id, timeout=timeout, after=after, poll_s=self.client.poll_s
        )
        return await self.client._run(flow)

    async def code(self, *, after: int | None = None) -> Code | None:
        """The newest code now (of a message after ``after``), without waiting."""
        return await self.client._run(protocol.latest_code(self.id, after=after))

    async def wait_for_code(self, timeout: float = 60.0, *, after: int | None = None) -> str:
        """The newest one-time code, waiting up to ``timeout`` s for one to arrive;
        raises :class:`~smslocker.client.CodeTimeout`."""
        flow = protocol.wait_for_code(
            self.id, timeout=timeout, after=after, poll_s=self.client.poll_s
        )
        return (await self.client._run(flow)).value

    async def __aenter__(self) -> AsyncRental:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.active:
            # Ended meanwhile (expired, or released in the block): nothing left to do.
            with contextlib.suppress(ConflictError, NotFoundError):
                await self.release()

    async def _take(self, flow: Flow[RentalInfo]) -> AsyncRental:
        update_rental(self, await self.client._run(flow))
        return self


__all__ = ["AsyncClient", "AsyncRental", "Renting"]
