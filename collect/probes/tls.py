"""tls: handshake time after connect, and the certificate's expiry and issuer."""
from __future__ import annotations

import asyncio
import functools
import ssl

from cryptography import x509

from collect.probes.options import ProbeOptions
from collect.probes.sampling import (
    ResolveError, describe_error, lost, over_connections, resolve_ipv4,
)
from collect.probes.stamped import StampedConnection
from collect.probes.tcpinfo import Timed
from collect.records import Measurement, Target, iso_utc


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """One handshake in ms (connect not included; kernel-stamped arrival), verified against the
    system trust store (plus opts.ca_file); lost when its connection needed a retransmission
    (the connect time is kept). A certificate that fails verification is still
    timed and described: a second, unverified handshake reads it, and the error names the
    verification failure."""
    try:
        address = await resolve_ipv4(target.host)
    except ResolveError as exc:
        return lost(1, str(exc))
    try:
        async with asyncio.timeout(opts.timeout_s):
            return await _handshakes(target, address, opts)
    except TimeoutError:
        return lost(1, "timeout")
    except OSError as exc:  # ssl.SSLError included
        return lost(1, describe_error(exc))


async def _handshakes(target: Target, address: str, opts: ProbeOptions) -> Measurement:
    error = None
    try:
        timed, der = await timed_handshake(address, target, client_context(opts.ca_file))
    except ssl.SSLCertVerificationError as exc:
        error = describe_error(exc)
        timed, der = await timed_handshake(address, target, unverified_context())
    expires, issuer = describe_certificate(der)
    return over_connections([timed], error=error, cert_expires=expires, cert_issuer=issuer)


async def timed_handshake(
    address: str, target: Target, context: ssl.SSLContext
) -> tuple[Timed, bytes]:
    """(the handshake's time in ms, the peer's DER certificate) over a fresh connection."""
    conn = await StampedConnection.open(address, target.port)
    try:
        timed = conn.timed(await conn.start_tls(context, target.host))
        der = conn.tls.getpeercert(binary_form=True)
    finally:
        conn.close()
    return timed, der


def describe_certificate(der: bytes | None) -> tuple[str | None, str | None]:
    """(notAfter as ISO 8601 UTC, issuer as an RFC 4514 string); (None, None) when there is no
    certificate or it does not parse (the handshake time is still a sample)."""
    if not der:
        return None, None
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, None
    return iso_utc(cert.not_valid_after_utc.timestamp()), cert.issuer.rfc4514_string()


@functools.cache
def client_context(ca_file: str | None) -> ssl.SSLContext:
    """The verifying context, built once: loading the system trust store is slow."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(ca_file)
    return context


@functools.cache
def unverified_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
