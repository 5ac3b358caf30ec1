"""tcp probe against real listeners on loopback."""
from __future__ import annotations

import asyncio
import socket
import time

import json

import pytest

from collect.probes import ProbeOptions, tcp, tcpinfo
from collect.records import COLUMNS, Measurement, ProbeResult, Target
from ingest.validate import ValidationError, validate_record
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
    assert all(s is not None and s > 0 for s in m.samples_ms)
    # all but the slowest: the hypervisor may hold the vCPU a few ms between the clock read
    # and the send, once in a while, loopback or not
    assert sorted(m.samples_ms)[-2] < LOOPBACK_CEILING_MS, m.samples_ms
    assert m.connect_ms is None  # nothing was resent


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



def resent_record(connect_ms: list) -> dict:
    """The wire record of 3 tcp samples, the first lost to a resent handshake."""
    measured = Measurement(samples_ms=(None, 20.5, 20.7), connect_ms=(1020.4, None, None))
    record = ProbeResult("10.77.1.2", "ewr", "tcp", 1_790_000_100, 1_790_000_101.0, measured).to_json()
    return {**record, "connect_ms": connect_ms}


def test_a_resent_handshake_counts_as_loss_and_ingest_keeps_its_connect_time_in_detail():
    record = resent_record([1020.4, None, None])
    assert record["loss"] == round(1 / 3, 4) and record["rtt_ms"] == 20.6
    row = validate_record(record, now=1_790_000_200.0)
    assert json.loads(row[COLUMNS.index("detail")])["connect_ms"] == [1020.4, None, None]


@pytest.mark.parametrize("bad, path", [
    (["1020"], "$.connect_ms[0]"), ([-1.0], "$.connect_ms[0]"), ({"ms": 1}, "$.connect_ms"),
])
def test_ingest_refuses_a_bad_connect_ms_naming_the_field(bad, path):
    with pytest.raises(ValidationError) as refused:
        validate_record(resent_record(bad), now=1_790_000_200.0)
    assert refused.value.path == path
