"""dns probe: real UDP queries to a scripted responder on loopback."""
from __future__ import annotations

import asyncio
import socket
import time

import pytest

from collect.errors import CollectError
from collect.probes import ProbeOptions, dns
from collect.probes.dns import resolver_address
from collect.records import Target
from tests.collect.loopback_servers import LOCALHOST, serving

DELAY_MS = 80.0
SLACK_MS = 40.0  # two processes scheduled on a loaded CI machine
NAME = "api.exchange.test"
ANSWER = ("192.0.2.11", "192.0.2.10")


def probe(name: str, port: int, timeout_s: float = 2.0):
    opts = ProbeOptions(dns_server=f"{LOCALHOST}:{port}", timeout_s=timeout_s)
    return asyncio.run(dns.probe(Target(name, "x", "CDN & DNS"), opts))


def test_query_time_matches_the_responders_delay_and_addresses_are_returned():
    with serving("dns", str(DELAY_MS), NAME, *ANSWER) as port:
        m = probe(NAME, port)
    assert m.error is None
    assert m.addresses == tuple(sorted(ANSWER))
    assert DELAY_MS <= m.samples_ms[0] < DELAY_MS + SLACK_MS


def test_nxdomain_is_timed_and_reported():
    with serving("dns", "0", NAME, *ANSWER) as port:
        m = probe("other.exchange.test", port)
    assert m.error == "dns nxdomain"
    assert m.addresses == ()
    assert m.samples_ms[0] is not None


def test_resolver_that_never_answers_times_out_with_full_loss():
    with serving("dropdns") as port:
        m = probe(NAME, port, timeout_s=0.3)
    assert (m.samples_ms, m.error) == ((None,), "timeout")


def test_closed_resolver_port_is_refused_at_once():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCALHOST, 0))
        port = s.getsockname()[1]
    m = probe(NAME, port)
    assert (m.samples_ms, m.error) == ((None,), "connection refused")


@pytest.mark.parametrize(
    "text, address",
    [("127.0.0.1", ("127.0.0.1", 53)), ("127.0.0.1:5353", ("127.0.0.1", 5353)), ("::1", ("::1", 53))],
)
def test_resolver_address_forms(text, address):
    assert resolver_address(text) == address


@pytest.mark.parametrize("text", ["127.0.0.1:dns", "resolver.example:53", "300.1.1.1"])
def test_bad_resolver_address_is_a_setup_error(text):
    with pytest.raises(CollectError):
        resolver_address(text)


def test_query_time_comes_from_the_kernel_stamp_while_the_event_loop_is_blocked():
    block_s = 0.3

    async def query_while_the_loop_is_blocked(port: int) -> tuple:
        async def hog() -> None:
            await asyncio.sleep(0.02)  # the query is out; the answer comes while we block
            time.sleep(block_s)

        started = time.monotonic()
        opts = ProbeOptions(dns_server=f"{LOCALHOST}:{port}")
        m, _ = await asyncio.gather(dns.probe(Target(NAME, "x", "CDN & DNS"), opts), hog())
        return m, time.monotonic() - started

    with serving("dns", str(DELAY_MS), NAME, *ANSWER) as port:
        m, wall_s = asyncio.run(query_while_the_loop_is_blocked(port))
    assert block_s <= wall_s < block_s + DELAY_MS / 1000
    assert DELAY_MS <= m.samples_ms[0] < DELAY_MS + SLACK_MS
