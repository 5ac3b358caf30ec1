"""tcp probe against real listeners on loopback."""
from __future__ import annotations

import asyncio
import socket
import time

from collect.probes import ProbeOptions, tcp, tcpinfo
from collect.records import Target
from tests.collect.loopback_servers import LOCALHOST, serving

LOOPBACK_CEILING_MS = 5.0


def target(port: int) -> Target:
    return Target(LOCALHOST, "loopback", "CDN & DNS", port=port)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def test_connects_to_a_listener_give_every_sample_in_loopback_time():
    with serving("tcp") as port:
        m = asyncio.run(tcp.probe(target(port), ProbeOptions(tcp_samples=5, interval_s=0.02)))
    assert m.error is None
    assert len(m.samples_ms) == 5
    assert all(s is not None and 0 < s < LOOPBACK_CEILING_MS for s in m.samples_ms)


def test_closed_port_reports_refused_and_full_loss_at_once():
    started = time.monotonic()
    m = asyncio.run(tcp.probe(target(closed_port()), ProbeOptions(tcp_samples=3, interval_s=0.01)))
    assert time.monotonic() - started < 0.5
    assert m.samples_ms == (None, None, None)
    assert m.error == "connection refused"


def test_kernel_handshake_rtt_is_no_longer_than_the_stopwatch():
    async def both(port: int) -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        with socket.socket() as sock:
            sock.setblocking(False)
            started = time.perf_counter_ns()
            await loop.sock_connect(sock, (LOCALHOST, port))
            stopwatch_ms = (time.perf_counter_ns() - started) / 1e6
            return tcpinfo.tcp_info(sock).rtt_ms, stopwatch_ms

    with serving("tcp") as port:
        kernel_ms, stopwatch_ms = asyncio.run(both(port))
    assert kernel_ms is not None
    assert 0 < kernel_ms <= stopwatch_ms

