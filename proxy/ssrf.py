"""Where a webhook may point: public addresses only, checked when it is registered and again on
every connection, at the address actually connected to (so DNS rebinding gains nothing).

A URL is refused when it is not https, carries credentials, writes an IPv4 address in any form
but dotted decimal (2130706433, 0177.0.0.1, 127.1), or names a host any of whose addresses is
loopback, private, link-local (169.254.169.254, the cloud metadata service, among them),
multicast, reserved or otherwise not global, including IPv4 addresses carried inside IPv6 ones
(::ffff:, 6to4, NAT64, Teredo). The operator setting `allow_local` (tests, `make run`) admits
http and loopback receivers, and nothing else.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

MAX_URL_CHARS = 2048
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(Exception):
    """A webhook URL or address that may not be called; the message says why."""


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    allow_local: bool = False  # admit http:// and loopback receivers (tests, `make run`)


def _embedded_v4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    if ip.version == 4:
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in net for net in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def address_refusal(ip: IPAddress, policy: TargetPolicy) -> str | None:
    """Why ip may not be called (e.g. "loopback"), or None when it is a public address."""
    for inner in _embedded_v4(ip):
        if (why := address_refusal(inner, policy)) is not None:
            return f"{why} (inside {ip})"
    if ip.is_loopback:
        return None if policy.allow_local else "loopback"
    for name in ("link_local", "multicast", "unspecified", "reserved", "private"):
        if getattr(ip, f"is_{name}"):
            return name.replace("_", "-")
    return None if ip.is_global else "not a public address"


def check_url(url: str, policy: TargetPolicy) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL a webhook may use before its host is resolved;
    UnsafeTarget naming the problem otherwise."""
    if len(url) > MAX_URL_CHARS:
        raise UnsafeTarget(f"the URL is over {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(f"not a URL: {exc}") from None
    schemes = ("https", "http") if policy.allow_local else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTarget(f"the URL must be {' or '.join(schemes)}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("the URL may not carry credentials")
    if parts.fragment:
        raise UnsafeTarget("the URL may not have a #fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("the URL has no host")
    literal = _ip_literal(host)
    if literal is not None and (why := address_refusal(literal, policy)) is not None:
        raise UnsafeTarget(f"{host} is {why}")
    try:
        httpx.URL(url)  # what the delivery will parse
    except httpx.InvalidURL as exc:
        raise UnsafeTarget(f"not a URL: {exc}") from None
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def _ip_literal(host: str) -> IPAddress | None:
    """host as an address when it is one; UnsafeTarget for IPv4 written other than dotted
    decimal, which resolvers read as an address (2130706433 is 127.0.0.1)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        packed = socket.inet_aton(host)
    except OSError:
        return None
    raise UnsafeTarget(f"{host} is the address {socket.inet_ntoa(packed)} written in a form "
                       "that hides it; write addresses in dotted decimal")


async def resolve_checked(host: str, port: int, policy: TargetPolicy) -> str:
    """The first address host resolves to, once every address it resolves to is allowed;
    UnsafeTarget when one is not, or when it does not resolve."""
    literal = _ip_literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UnsafeTarget(f"{host} does not resolve ({exc})") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"{host} has no address")
    for ip in addresses:
        if (why := address_refusal(ip, policy)) is not None:
            raise UnsafeTarget(f"{host} resolves to {ip}, which is {why}")
    return str(addresses[0])


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and checks each host itself and connects to the address it checked; TLS still
    verifies the certificate against the host name (httpcore takes SNI from the URL)."""

    def __init__(self, policy: TargetPolicy):
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None,
                          socket_options=None):
        address = await resolve_checked(host, port, self._policy)
        return await self._inner.connect_tcp(address, port, timeout, local_address,
                                             socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise UnsafeTarget("webhooks never use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(policy: TargetPolicy, max_connections: int,
                     ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes through PinnedBackend and no proxy.
    Pass one ssl_context to many transports: making one costs ~60 ms (the CA bundle)."""
    context = ssl_context or httpx.create_ssl_context(trust_env=False)
    transport = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
    # httpx has no argument for a network backend; its pool is replaced by an equal one that
    # has ours (tests/proxy/test_webhooks_ssrf.py proves the check runs at connect time).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=max_connections, max_keepalive_connections=max_connections,
        keepalive_expiry=30.0, network_backend=PinnedBackend(policy))
    return transport
