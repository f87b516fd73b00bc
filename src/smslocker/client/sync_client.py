"""The blocking client: :class:`Client` and its :class:`Rental` handles.

Only I/O lives here: each method runs a flow of :mod:`.protocol` with ``httpx.Client``
and ``time.sleep``. :mod:`.async_client` is the same with ``await``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from types import TracebackType
from typing import Any, TypeVar, cast

import httpx

from . import parsing, protocol
from .errors import ConflictError, NetworkError, NotFoundError
from .models import Availability, Code, Message, RentalInfo, update_rental
from .protocol import POLL_S, Connection, Flow, Pause, Request

T = TypeVar("T")


class Client:
    """A connection to an smslocker server, as one API key.

    ``base_url`` (the server's root, e.g. ``http://localhost:8000``) and ``api_key``
    default to the ``SMSLOCKER_URL`` and ``SMSLOCKER_API_KEY`` environment variables.
    ``timeout`` bounds each request (a long-poll gets its wait on top); ``poll_s`` is
    how long each long-poll asks the server to hold. ``transport`` swaps httpx's
    transport (tests call an app in-process with it).
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        poll_s: float = POLL_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        connection = Connection.resolve(base_url, api_key)
        self.base_url = connection.base_url
        self.poll_s = poll_s
        self._timeout = timeout
        self._http = httpx.Client(
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
    ) -> Rental:
        """Rent ``number``, or one the server picks by ``country`` (ISO 3166 alpha-2),
        ``service`` (``google``, ``whatsapp``, ...) and ``carrier``. Use it as a context
        manager to release it when done::

            with client.rent("US", "google") as rental:
                code = rental.wait_for_code(timeout=120)
        """
        flow = protocol.rent(
            country=country, service=service, carrier=carrier, number=number, duration_s=duration_s
        )
        return self._rental(self._run(flow))

    def rental(self, rental_id: str) -> Rental:
        """One of the account's rentals, by id."""
        return self._rental(self._run(protocol.get_rental(rental_id)))

    def rentals(self, *, status: str | None = None, service: str | None = None) -> list[Rental]:
        """The account's rentals, newest first (``status``: active, completed, ...)."""
        found = self._run(protocol.list_rentals(status=status, service=service))
        return [self._rental(info) for info in found]

    def available(
        self,
        country: str | None = None,
        service: str | None = None,
        *,
        carrier: str | None = None,
    ) -> Availability:
        """How many numbers can be rented now, and at what price."""
        return self._run(protocol.available(country=country, service=service, carrier=carrier))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _rental(self, info: RentalInfo) -> Rental:
        return Rental(**asdict(info), client=self)

    def _run(self, flow: Flow[T]) -> T:
        """Carry out ``flow``'s requests and pauses; its result."""
        try:
            step = next(flow)
            while True:
                answer = self._do(step)
                step = flow.send(answer)
        except StopIteration as done:
            return cast(T, done.value)
        finally:
            flow.close()

    def _do(self, step: Request | Pause) -> Any:
        if isinstance(step, Pause):
            time.sleep(step.seconds)
            return None
        timeout = httpx.Timeout(self._timeout, read=self._timeout + step.wait_s)
        try:
            response = self._http.request(
                step.method, step.path, params=dict(step.params), json=step.json, timeout=timeout
            )
        except httpx.TransportError as error:
            raise NetworkError(f"{step.method} {step.path}: {error!r}") from error
        return parsing.decode(response)


@dataclass(eq=False)
class Rental(RentalInfo):
    """A rented number: its details (updated by every call) and what can be done with it.

    As a context manager it releases the rental on exit, unless it has ended already.
    """

    client: Client = field(repr=False, kw_only=True)

    def refresh(self) -> Rental:
        """Read the rental again (status, expiry, messages count)."""
        return self._take(protocol.get_rental(self.id))

    def extend(self, seconds: int | None = None) -> Rental:
        """Make it last ``seconds`` longer (default: the server's standard length)."""
        return self._take(protocol.extend(self.id, seconds))

    def release(self) -> Rental:
        """Done with the number (refunded in full if no SMS came)."""
        return self._take(protocol.end(self.id, "release"))

    def cancel(self) -> Rental:
        """Give the number up (refunded in full if no SMS came)."""
        return self._take(protocol.end(self.id, "cancel"))

    def messages(self, *, after: int = 0) -> list[Message]:
        """All messages with an id above ``after``, oldest first."""
        return self.client._run(protocol.messages(self.id, after=after))

    def wait_for_message(self, timeout: float = 60.0, *, after: int | None = None) -> Message:
        """The first message with an id above ``after`` (the first message when None),
        waiting up to ``timeout`` s; raises :class:`~smslocker.client.WaitTimeout`."""
        flow = protocol.wait_for_message(
            self.id, timeout=timeout, after=after, poll_s=self.client.poll_s
        )
        return self.client._run(flow)

    def code(self, *, after: int | None = None) -> Code | None:
        """The newest code now (of a message after ``after``), without waiting."""
        return self.client._run(protocol.latest_code(self.id, after=after))

    def wait_for_code(self, timeout: float = 60.0, *, after: int | None = None) -> str:
        """The newest one-time code, waiting up to ``timeout`` s for one to arrive;
        raises :class:`~smslocker.client.CodeTimeout`. After a resend, pass the
        ``message_id`` of the previous :meth:`code` as ``after`` to wait for a new one."""
        flow = protocol.wait_for_code(
            self.id, timeout=timeout, after=after, poll_s=self.client.poll_s
        )
        return self.client._run(flow).value

    def __enter__(self) -> Rental:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.active:
            # Ended meanwhile (expired, or released in the block): nothing left to do.
            with contextlib.suppress(ConflictError, NotFoundError):
                self.release()

    def _take(self, flow: Flow[RentalInfo]) -> Rental:
        update_rental(self, self.client._run(flow))
        return self


__all__ = ["Client", "Rental"]
