"""tcp: connect time to the target's port; the latency of targets that drop ICMP."""
from __future__ import annotations

import asyncio
import socket
import struct
import time

from collect.probes.options import ProbeOptions
from collect.probes.sampling import ResolveError, describe_error, lost, resolve_ipv4, spaced_samples
from collect.records import Measurement, Target

# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32s; tcpi_rtt is the smoothed RTT
# in microseconds (after a handshake: exactly the SYN to SYN-ACK time), tcpi_total_retrans counts
# resent segments, the SYN included.
TCPI_RTT_OFFSET = 68
TCPI_TOTAL_RETRANS_OFFSET = 100
TCP_INFO_BYTES = 104


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """opts.tcp_samples connects interval_s apart, each bounded by timeout_s; a refused or
    timed-out connect is a lost sample (None). Samples are handshake RTTs in ms."""
    try:
        address = await resolve_ipv4(target.host)
    except ResolveError as exc:
        return lost(opts.tcp_samples, str(exc))
    errors: list[str] = []

    async def sample() -> float | None:
        try:
            return await connect_ms(address, target.port, opts.timeout_s)
        except TimeoutError:
            errors.append("timeout")
        except OSError as exc:
            errors.append(describe_error(exc))
        return None

    samples = await spaced_samples(opts.tcp_samples, opts.interval_s, sample)
    if any(s is not None for s in samples):
        return Measurement(samples_ms=samples)
    return Measurement(samples_ms=samples, error=errors[0])


async def connect_ms(address: str, port: int, timeout_s: float) -> float:
    """One TCP handshake in ms: the kernel's own SYN to SYN-ACK measurement, immune to event
    loop delay, or the loop's stopwatch when the kernel has none (the SYN was resent).
    Raises TimeoutError or OSError."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        started_ns = time.perf_counter_ns()
        async with asyncio.timeout(timeout_s):
            await loop.sock_connect(sock, (address, port))
        stopwatch_ms = (time.perf_counter_ns() - started_ns) / 1e6
        kernel_ms = handshake_rtt_ms(sock)
    return stopwatch_ms if kernel_ms is None else kernel_ms


def handshake_rtt_ms(sock: socket.socket) -> float | None:
    """The kernel's RTT of a just-connected socket in ms; None if the SYN was retransmitted
    (Karn: no clean sample) or TCP_INFO is unavailable."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_BYTES)
    except OSError:
        return None
    if len(info) < TCP_INFO_BYTES:
        return None
    (rtt_us,) = struct.unpack_from("=I", info, TCPI_RTT_OFFSET)
    (retransmitted,) = struct.unpack_from("=I", info, TCPI_TOTAL_RETRANS_OFFSET)
    if retransmitted or rtt_us == 0:
        return None
    return rtt_us / 1000
