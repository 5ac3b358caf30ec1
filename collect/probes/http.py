"""http: time to first byte of the target's health URL (https://host/ without one), and status."""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from collect.probes.options import ProbeOptions
from collect.probes.sampling import (
    ResolveError, describe_error, lost, over_connections, resolve_ipv4,
)
from collect.probes.stamped import StampedConnection
from collect.probes.tcpinfo import Timed
from collect.probes.tls import client_context
from collect.records import Measurement, Target

USER_AGENT = "nettrace-collector/1"
DEFAULT_PORTS = {"http": 80, "https": 443}
SERVER_ERROR = 500
MAX_STATUS_LINE_BYTES = 8192


class BadResponse(Exception):
    """The server's first line is not an HTTP status line."""


def health_url(target: Target) -> str:
    if target.health_url:
        return target.health_url
    port = "" if target.port == DEFAULT_PORTS["https"] else f":{target.port}"
    return f"https://{target.host}{port}/"


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """One GET; the sample is the time from sending the request on an open (TLS) connection to
    the kernel's arrival stamp of the first response bytes, in ms (DNS, connect and handshake
    excluded: tcp and tls time those; lost when the connection needed a retransmission).
    Redirects are not followed; a 5xx status is an error, any other status is a live server."""
    url = urlsplit(health_url(target))
    try:
        address = await resolve_ipv4(url.hostname or target.host)
    except ResolveError as exc:
        return lost(1, str(exc))
    try:
        async with asyncio.timeout(opts.timeout_s):
            timed, status = await first_byte(url, address, opts)
    except TimeoutError:
        return lost(1, "timeout")
    except OSError as exc:
        return lost(1, describe_error(exc))
    except BadResponse:
        return lost(1, "bad http response")
    error = f"http status {status}" if status >= SERVER_ERROR else None
    return over_connections([timed], error=error, status=status)


async def first_byte(url, address: str, opts: ProbeOptions) -> tuple[Timed, int]:
    """(the ms from request sent to the kernel's arrival stamp of the first response bytes,
    taken over its connection; the status code). Raises OSError, BadResponse."""
    port = url.port or DEFAULT_PORTS.get(url.scheme, DEFAULT_PORTS["https"])
    conn = await StampedConnection.open(address, port)
    try:
        if url.scheme == "https":
            await conn.start_tls(client_context(opts.ca_file), url.hostname)
        sent_ns = await conn.send(request_bytes(url))
        head, arrived_ns = await conn.first_bytes()
        while head and b"\n" not in head and len(head) < MAX_STATUS_LINE_BYTES:
            more = await conn.more_bytes()
            if not more:
                break
            head += more
        timed = conn.timed((arrived_ns - sent_ns) / 1e6)
    finally:
        conn.close()
    return timed, parse_status(head.split(b"\n", 1)[0])


def request_bytes(url) -> bytes:
    target = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return (
        f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\nUser-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")


def parse_status(line: bytes) -> int:
    """The code of 'HTTP/1.1 200 OK'; raises BadResponse."""
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise BadResponse(line[:40])
    return int(parts[1])
