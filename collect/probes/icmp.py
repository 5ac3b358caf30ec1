"""icmp: echo round-trip times, SmokePing style (20 spaced samples per round by default)."""
from __future__ import annotations

from collect.probes.echo import DEFAULT_TTL, ECHO_REPLY, EchoEndpoint, shared_endpoint
from collect.probes.options import ProbeOptions
from collect.probes.sampling import ResolveError, describe_error, lost, resolve_ipv4, spaced_samples
from collect.records import Measurement, Target

UNREACHABLE = "unreachable"


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """opts.icmp_samples echo requests interval_s apart; each sample is the kernel-stamped RTT
    in ms, or None when no reply came within timeout_s. Raises CollectError without ICMP rights."""
    try:
        address = await resolve_ipv4(target.host)
    except ResolveError as exc:
        return lost(opts.icmp_samples, str(exc))
    errors: list[str] = []
    with shared_endpoint() as endpoint:
        samples = await spaced_samples(
            opts.icmp_samples, opts.interval_s, lambda: _echo(endpoint, address, opts, errors)
        )
    if any(s is not None for s in samples):
        return Measurement(samples_ms=samples)
    return Measurement(samples_ms=samples, error=errors[0] if errors else "timeout")


async def _echo(
    endpoint: EchoEndpoint, address: str, opts: ProbeOptions, errors: list[str]
) -> float | None:
    try:
        reply = await endpoint.exchange(address, DEFAULT_TTL, opts.timeout_s)
    except OSError as exc:
        errors.append(describe_error(exc))
        return None
    if reply is None:
        return None
    if reply.icmp_type != ECHO_REPLY:
        errors.append(UNREACHABLE)
        return None
    return reply.rtt_ms
