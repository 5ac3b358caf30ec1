"""dns: resolution time of the target's name and the IPv4 addresses returned.

A real DNS query over UDP (dnspython) to the configured resolver, not getaddrinfo: the system
resolver's caches and thread pool would hide the resolver's latency.
"""
from __future__ import annotations

import functools
import time

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from collect.errors import CollectError
from collect.probes.options import ProbeOptions
from collect.probes.sampling import describe_error, lost
from collect.records import Measurement, Target

DNS_PORT = 53


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """One A query in ms. NXDOMAIN or an empty answer is timed but is an error.
    Raises CollectError when no resolver is configured."""
    server, port = resolver_address(opts.dns_server)
    query = dns.message.make_query(target.host, dns.rdatatype.A)
    started_ns = time.perf_counter_ns()
    try:
        response = await dns.asyncquery.udp(query, server, timeout=opts.timeout_s, port=port)
    except dns.exception.Timeout:
        return lost(1, "timeout")
    except OSError as exc:
        return lost(1, describe_error(exc))
    except dns.exception.DNSException as exc:
        return lost(1, f"dns: {exc}")
    query_ms = (time.perf_counter_ns() - started_ns) / 1e6
    addresses = tuple(
        sorted({r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset})
    )
    error = None
    if response.rcode() != dns.rcode.NOERROR:
        error = f"dns {dns.rcode.to_text(response.rcode()).lower()}"
    elif not addresses:
        error = "dns: no A record"
    return Measurement(samples_ms=(query_ms,), error=error, addresses=addresses)


@functools.cache
def resolver_address(text: str | None) -> tuple[str, int]:
    """(IP, port) from 'IP' or 'IP:PORT', or the first nameserver of /etc/resolv.conf."""
    if text is None:
        try:
            return dns.resolver.Resolver().nameservers[0], DNS_PORT
        except (dns.resolver.NoResolverConfiguration, IndexError) as exc:
            raise CollectError("dns: no resolver configured; pass --dns-server IP[:PORT]") from exc
    host, sep, port = text.rpartition(":")
    if sep and host.count(":") == 0:
        if not port.isdigit():
            raise CollectError(f"dns: bad resolver port in {text!r}")
        return host, int(port)
    return text, DNS_PORT
