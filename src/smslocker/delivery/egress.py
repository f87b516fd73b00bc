"""Outbound HTTP to URLs that users chose: webhooks reach the public internet only.

A webhook URL is the user's, so without a guard any account could make the server
POST to its own private network (``http://127.0.0.1:6379/``, the cloud metadata
address, an admin page on the LAN): server-side request forgery. Checking the URL's
host when the endpoint is created is not enough, because a name can resolve to a
public address then and a private one later (DNS rebinding). So the check happens at
connect time, on the address actually connected to: :class:`PublicOnlyBackend` is an
httpcore network backend that resolves the host itself, refuses the connection when
any of its addresses is not global (loopback, private, link-local, multicast,
reserved, shared, unspecified), and connects to the address it checked. TLS still
verifies the certificate against the URL's host name (httpcore passes it to
``start_tls`` separately).

Operators who deliver to their own network on purpose (and the tests, on loopback)
set ``allow_private``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx


class PrivateAddressRefused(httpcore.ConnectError):
    """The webhook's host resolves to an address outside the public internet."""


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP literal) is routable on the public internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses. See the module docstring."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        addresses = [str(info[4][0]) for info in infos]
        private = [address for address in addresses if not is_public(address)]
        if not addresses or private:
            raise PrivateAddressRefused(
                f"{host} resolves to {private[0] if private else 'nothing'}, which is not a "
                "public address; webhooks are only delivered to the public internet"
            )
        return await self._inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise PrivateAddressRefused("webhooks are never delivered to a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def webhook_client(*, timeout: float, allow_private: bool = False) -> httpx.AsyncClient:
    """The HTTP client of the webhook worker: no redirects, public addresses only."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    if not allow_private:
        # httpx has no parameter for the network backend; its transport is a thin layer
        # over this pool (tests/delivery/test_egress.py fails if that ever changes).
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            network_backend=PublicOnlyBackend(),
        )
    return httpx.AsyncClient(
        transport=transport, timeout=httpx.Timeout(timeout), follow_redirects=False
    )


__all__ = ["PrivateAddressRefused", "PublicOnlyBackend", "is_public", "webhook_client"]
