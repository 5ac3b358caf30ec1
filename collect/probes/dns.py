"""dns: resolution time of the target's name and the IPv4 addresses returned.

A real DNS query over UDP to the configured resolver (dnspython builds and parses the messages),
not getaddrinfo: the system resolver's caches and thread pool would hide the resolver's latency.
"""
from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import time

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from collect.errors import CollectError
from collect.probes.options import ProbeOptions
from collect.probes.sampling import describe_error, lost
from collect.probes.stamped import recv_stamped, stamped_socket
from collect.records import Measurement, Target

DNS_PORT = 53


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """One A query in ms. NXDOMAIN or an empty answer is timed but is an error.
    Raises CollectError when no resolver is configured."""
    server = resolver_address(opts.dns_server)
    query = dns.message.make_query(target.host, dns.rdatatype.A)
    try:
        async with asyncio.timeout(opts.timeout_s):
            query_ms, response = await exchange(query, server)
    except TimeoutError:
        return lost(1, "timeout")
    except OSError as exc:
        return lost(1, describe_error(exc))
    addresses = tuple(sorted(
        {r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset}
    ))
    error = None
    if response.rcode() != dns.rcode.NOERROR:
        error = f"dns {dns.rcode.to_text(response.rcode()).lower()}"
    elif not addresses:
        error = "dns: no A record"
    return Measurement(samples_ms=(query_ms,), error=error, addresses=addresses)


async def exchange(query: dns.message.Message, server: tuple[str, int]) -> tuple[float, dns.message.Message]:
    """(ms from sending query to the kernel's arrival stamp of its answer, the answer) over
    UDP; datagrams that are not the answer are skipped. Raises OSError; the caller bounds it."""
    with stamped_socket(socket.SOCK_DGRAM) as sock:
        sock.connect(server)  # only the resolver's datagrams reach this socket
        wire = query.to_wire()
        sent_ns = time.time_ns()
        sock.send(wire)
        while True:
            data, arrived_ns = await recv_stamped(sock)
            try:
                response = dns.message.from_wire(data)
            except dns.exception.DNSException:
                continue
            if query.is_response(response):
                return (arrived_ns - sent_ns) / 1e6, response


@functools.cache
def resolver_address(text: str | None) -> tuple[str, int]:
    """(IP, port) from 'IP' or 'IP:PORT', or the first nameserver of /etc/resolv.conf."""
    if text is None:
        try:
            return dns.resolver.Resolver().nameservers[0], DNS_PORT
        except (dns.resolver.NoResolverConfiguration, IndexError) as exc:
            raise CollectError("dns: no resolver configured; pass --dns-server IP[:PORT]") from exc
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:  # no port, or a bare IPv6 address
        host, port = text, str(DNS_PORT)
    try:
        ipaddress.ip_address(host)
    except ValueError as exc:
        raise CollectError(f"dns: resolver {text!r} is not an IP address or IP:PORT") from exc
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise CollectError(f"dns: bad resolver port in {text!r}")
    return host, int(port)
