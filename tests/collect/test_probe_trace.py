"""trace probe: a real trace to loopback (root) and the hop/fingerprint rules."""
from __future__ import annotations

import asyncio

import pytest

from collect.probes import ProbeOptions, trace
from collect.probes.echo import ECHO_REPLY, TIME_EXCEEDED, Reply
from collect.records import Hop, Target
from tests.conftest import need_root

DEST = "198.51.100.7"


def test_trace_to_loopback_is_one_hop_with_a_stable_fingerprint():
    need_root()
    target = Target("127.0.0.1", "loopback", "CDN & DNS")
    first = asyncio.run(trace.probe(target, ProbeOptions(timeout_s=0.5)))
    again = asyncio.run(trace.probe(target, ProbeOptions(timeout_s=0.5)))
    assert first.error is None
    assert [(h.ttl, h.address) for h in first.hops] == [(1, "127.0.0.1")]
    assert first.samples_ms[0] == first.hops[0].rtt_ms
    assert first.fingerprint == again.fingerprint is not None


def hop(source: str | None, icmp_type: int = TIME_EXCEEDED) -> Reply | None:
    return None if source is None else Reply(source, icmp_type, 1.0)


@pytest.mark.parametrize(
    "replies, addresses",
    [
        ([hop("10.0.0.1"), hop(None), hop(DEST, ECHO_REPLY), hop(DEST, ECHO_REPLY)],
         ["10.0.0.1", None, DEST]),
        ([hop("10.0.0.1"), hop("10.0.0.2"), hop(None), hop(None)], ["10.0.0.1", "10.0.0.2"]),
        ([hop(None), hop(None)], []),
    ],
    ids=["cut at the destination, silent hop kept", "unreached: trailing silence trimmed", "all silent"],
)
def test_hops_are_cut_at_the_destination_and_keep_silent_hops(replies, addresses):
    assert [h.address for h in trace.build_hops(replies, DEST)] == addresses


def hops(*addresses: str | None) -> tuple[Hop, ...]:
    return tuple(Hop(i, a, 1.0 if a else None) for i, a in enumerate(addresses, start=1))


def test_fingerprint_ignores_silent_hops_but_changes_with_the_route():
    base = trace.fingerprint(hops("10.0.0.1", "10.0.1.1", DEST))
    assert trace.fingerprint(hops("10.0.0.1", None, "10.0.1.1", DEST)) == base
    assert trace.fingerprint(hops("10.0.0.1", "10.0.2.1", DEST)) != base
    assert trace.fingerprint(hops("10.0.0.1", DEST)) != base
    assert trace.fingerprint(hops(None, None)) is None


def test_a_hundred_parallel_traces_lose_no_replies():
    need_root()
    targets = [Target(f"127.0.1.{i}", "loopback", "CDN & DNS") for i in range(1, 101)]

    async def round_() -> list:
        opts = ProbeOptions(timeout_s=1.0)
        return await asyncio.gather(*(trace.probe(t, opts) for t in targets))

    results = asyncio.run(round_())
    assert [[h.address for h in m.hops] for m in results] == [[t.host] for t in targets]
