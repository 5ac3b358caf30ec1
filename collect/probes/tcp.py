"""tcp: connect time to the target's port; the latency of targets that drop ICMP."""
from __future__ import annotations

import asyncio
import socket
import time

from collect.probes.options import ProbeOptions
from collect.probes.sampling import (
    ResolveError, describe_error, lost, over_connections, resolve_ipv4, spaced_samples,
)
from collect.probes.tcpinfo import Timed, stopwatch_ms, tcp_info
from collect.records import Measurement, Target


async def probe(target: Target, opts: ProbeOptions) -> Measurement:
    """opts.tcp_samples connects interval_s apart, each bounded by timeout_s. Samples are
    handshake RTTs in ms; a refused or timed-out connect is a lost sample (None), and so is a
    handshake that needed a retransmission (its connect time goes to connect_ms)."""
    try:
        address = await resolve_ipv4(target.host)
    except ResolveError as exc:
        return lost(opts.tcp_samples, str(exc))
    errors: list[str] = []

    async def sample() -> Timed | None:
        try:
            return await handshake(address, target.port, opts.timeout_s)
        except TimeoutError:
            errors.append("timeout")
        except OSError as exc:
            errors.append(describe_error(exc))
        return None

    return over_connections(await spaced_samples(opts.tcp_samples, opts.interval_s, sample), errors)


async def handshake(address: str, port: int, timeout_s: float) -> Timed:
    """One TCP handshake. Its sample is the kernel's own SYN to SYN-ACK time, immune to event
    loop delay (the loop's stopwatch where TCP_INFO is unreadable); resent when the kernel
    retransmitted the SYN. Raises TimeoutError or OSError."""
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        started_ns = time.perf_counter_ns()
        async with asyncio.timeout(timeout_s):
            await loop.sock_connect(sock, (address, port))
        connect_ms = stopwatch_ms(started_ns)
        info = tcp_info(sock)
    if info is None:
        return Timed(connect_ms, connect_ms, resent=False)
    return Timed(info.rtt_ms or connect_ms, connect_ms, resent=info.retransmits > 0)
