"""Helpers every probe shares: spaced concurrent samples and IPv4 resolution."""
from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from collect.probes.tcpinfo import RETRANSMITTED, Timed
from collect.records import Measurement

S = TypeVar("S")


class ResolveError(Exception):
    """The host has no IPv4 address; the probe reports it as its error."""


async def spaced_samples(
    count: int, interval_s: float, sample: Callable[[], Awaitable[S]]
) -> tuple[S, ...]:
    """Start sample() every interval_s seconds, all running concurrently, so one slow or lost
    sample never delays the next; returns the results in start order."""

    async def delayed(i: int) -> S:
        await asyncio.sleep(i * interval_s)
        return await sample()

    return tuple(await asyncio.gather(*(delayed(i) for i in range(count))))


async def resolve_ipv4(host: str) -> str:
    """The first IPv4 address of host (a literal is returned as is); raises ResolveError."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ipaddress.AddressValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ResolveError(f"resolve: {exc.strerror}") from exc
    except UnicodeError as exc:  # a name IDNA cannot encode
        raise ResolveError("resolve: invalid name") from exc
    if not infos:
        raise ResolveError("resolve: no IPv4 address")
    return infos[0][4][0]


def over_connections(timed: Sequence[Timed | None], failures: Sequence[str] = (),
                     error: str | None = None, **fields) -> Measurement:
    """The Measurement of samples taken over TCP connections (None: no connection was made).
    A sample whose connection resent a segment is lost, and its connect time is kept in
    connect_ms, aligned with samples_ms (omitted when nothing was resent). error is the probe's
    own finding (a status, a certificate) and stands; otherwise, when no sample survives, the
    first failure, or the retransmission, is the error. fields: the probe's other fields."""
    samples = tuple(None if t is None or t.resent else t.sample_ms for t in timed)
    kept = tuple(t.connect_ms if t is not None and t.resent else None for t in timed)
    if error is None and all(s is None for s in samples):
        error = failures[0] if failures else RETRANSMITTED
    connect_ms = kept if any(k is not None for k in kept) else None
    return Measurement(samples_ms=samples, error=error, connect_ms=connect_ms, **fields)


def lost(count: int, error: str) -> Measurement:
    """count lost samples and the reason."""
    return Measurement(samples_ms=(None,) * count, error=error)


def describe_error(exc: OSError) -> str:
    """A short lower-case reason such as 'connection refused' for a probe's error field."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {(exc.reason or str(exc)).lower()}"
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    return (exc.strerror or str(exc) or type(exc).__name__).lower()
