"""Where webhooks may go: public addresses only, unless `TENURE_WEBHOOK_ALLOW_PRIVATE` is set (SSRF).

A URL is checked when it is registered (its host, and whatever its name resolves to then) and again on
every connection: the name is resolved, every address it resolves to is checked, and the connection
goes to one of those very addresses, never to a second lookup's answer (DNS rebinding). Hosts are read
as libc reads them, so `0x7f000001`, `2130706433`, `017700000001`, `127.1` and `0` are the addresses
they stand for.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import httpcore
import httpx

from tenure.api.errors import InvalidRequest

IPAddress = IPv4Address | IPv6Address

_SHARED = ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ip_network("64:ff9b::/96")  # the well-known NAT64 prefix: the last 32 bits are IPv4
_INET_ATON = re.compile(r"[0-9a-fA-FxX.]+")


def literal_address(host: str) -> IPAddress | None:
    """`host` as the IP address it spells (in any form libc's inet_aton accepts), or None for a name."""
    host = host.removeprefix("[").removesuffix("]")
    try:
        return ip_address(host)
    except ValueError:
        pass
    # inet_aton ignores anything after a space: only hand it what such a number can be made of.
    if not _INET_ATON.fullmatch(host):
        return None
    try:
        return IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 one reaches: IPv4-mapped, NAT64 or 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def address_kind(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is ("loopback", "private"…), or None when it is public."""
    if isinstance(address, IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return address_kind(embedded)
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in _SHARED:
        return "shared (CGNAT)"
    if address.is_reserved:
        return "reserved"
    if isinstance(address, IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "non-public"
    return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` stands for: itself when it spells one, else what the resolver answers."""
    literal = literal_address(host)
    if literal is not None:
        return [literal]
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict[IPAddress, None] = {}
    for family, _type, _proto, _name, sockaddr in answers:
        if family in (socket.AF_INET, socket.AF_INET6):
            found[ip_address(str(sockaddr[0]))] = None
    return list(found)


def _first_refused(addresses: Iterable[IPAddress]) -> tuple[IPAddress, str] | None:
    for address in addresses:
        kind = address_kind(address)
        if kind is not None:
            return address, kind
    return None


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse (400 on `url`) a webhook URL whose host is, or now resolves to, a non-public address.

    A name that does not resolve is accepted: DNS may not be set up yet, and delivery checks again.
    """
    if allow_private:
        return
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidRequest(f"Invalid URL: {url!r} ({exc}).", param="url") from exc
    host = parsed.raw_host.decode("ascii")
    try:
        addresses = resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
    except (OSError, UnicodeError):
        return
    refused = _first_refused(addresses)
    if refused is not None:
        address, kind = refused
        raise InvalidRequest(
            f"Invalid URL: {url!r} points to {address} ({kind} address): webhooks are sent only to "
            "public addresses (TENURE_WEBHOOK_ALLOW_PRIVATE=true allows others, for local development).",
            param="url",
        )


class RefusedAddress(httpcore.ConnectError):
    """A connection not made: its host is, or resolves to, a non-public address."""


class PublicOnlyBackend(httpcore.SyncBackend):
    """Connects only to public addresses: resolves the host once, checks every address it resolves
    to, then connects to those addresses themselves (no second lookup an attacker could answer)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        refused = _first_refused(addresses)
        if refused is not None:
            address, kind = refused
            shown = host if str(address) == host else f"{host} ({address})"
            raise RefusedAddress(f"refused: {shown} is not a public address ({kind})")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return super().connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        if failure is None:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        raise failure


class PublicOnlyTransport(httpx.HTTPTransport):
    """httpx's transport, connecting through `PublicOnlyBackend`; proxies from the environment are not
    used (a proxy would connect wherever it is told, unchecked)."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits, trust_env=False)
        # httpx takes no network backend: its connection pool is built again with one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(),
        )
