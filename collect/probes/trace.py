"""trace: the hop list to a target, Paris-traceroute style, every TTL probed at once.

All probes of one trace are ICMP echo requests with the same addresses, id and checksum (the
payload balances the sequence number), so per-flow load balancers keep them on one path and a
balanced path does not look like a route change. Silent hops stay in the list as '*'.
"""
from __future__ import annotations

import asyncio
import hashlib
import os

from collect.errors import CollectError
from collect.probes.echo import EchoEndpoint, Reply, shared_endpoint
from collect.probes.options import ProbeOptions
from collect.probes.sampling import ResolveError, lost, resolve_ipv4
from collect.records import Hop, Measurement, Target

FINGERPRINT_HEX = 16


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """Hops 1..max_hops probed in parallel, cut at the destination; the one sample is the
    destination's RTT in ms (None and an error when it never answered).
    Raises CollectError when not root (routers' time-exceeded replies need a raw socket)."""
    if os.geteuid() != 0:
        raise CollectError(
            "trace: needs root (only a raw ICMP socket sees routers' replies); "
            "run as root or leave trace out with --probes"
        )
    try:
        address = await resolve_ipv4(target.host)
    except ResolveError as exc:
        return lost(1, str(exc))
    with shared_endpoint() as endpoint:
        replies = await asyncio.gather(
            *(_hop(endpoint, address, ttl, opts) for ttl in range(1, opts.max_hops + 1))
        )
    hops = build_hops(replies, address)
    reached = bool(hops) and hops[-1].address == address
    return Measurement(
        samples_ms=(hops[-1].rtt_ms if reached else None,),
        error=None if reached else "destination not reached",
        hops=hops,
        fingerprint=fingerprint(hops),
    )


async def _hop(endpoint: EchoEndpoint, address: str, ttl: int, opts: ProbeOptions) -> Reply | None:
    try:
        return await endpoint.exchange(address, ttl, opts.timeout_s)
    except OSError:  # e.g. no route: the hop stays silent
        return None


def build_hops(replies: list[Reply | None], destination: str) -> tuple[Hop, ...]:
    """Hops by TTL up to the first answer from the destination; when it never answers, up to
    the last hop that did. Silent hops are kept with address None."""
    hops = [
        Hop(ttl, r.source if r else None, r.rtt_ms if r else None)
        for ttl, r in enumerate(replies, start=1)
    ]
    for i, hop in enumerate(hops):
        if hop.address == destination:
            return tuple(hops[: i + 1])
    while hops and hops[-1].address is None:
        hops.pop()
    return tuple(hops)


def fingerprint(hops: tuple[Hop, ...]) -> str | None:
    """A short hash of the responding hops' addresses in order (silent hops ignored);
    None when no hop answered."""
    path = [h.address for h in hops if h.address]
    if not path:
        return None
    return hashlib.sha256(">".join(path).encode()).hexdigest()[:FINGERPRINT_HEX]
