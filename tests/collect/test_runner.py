"""The round runner: concurrency, deadlines, timestamps and the record it stamps."""
from __future__ import annotations

import asyncio
import time

import pytest

from collect.errors import CollectError
from collect.probes import ProbeOptions
from collect.records import Target, iso_utc
from collect.runner import plan_round, run_round
from tests.collect.loopback_servers import LOCALHOST, serving

ROUND_TS = 1_764_000_000 // 900 * 900
TIMEOUT_S = 1.0
OVERHEAD_S = 1.0  # event loop work for 480 probes on a loaded 2-core CI machine; the sum would be 120 s


def targets(port: int, count: int, probes: tuple[str, ...]) -> list[Target]:
    return [Target(LOCALHOST, f"t{i}", "CDN & DNS", port=port, probes=probes) for i in range(count)]


def timed_round(targets_: list[Target], opts: ProbeOptions, **kw) -> tuple[list, float]:
    started = time.monotonic()
    results = asyncio.run(run_round(targets_, "ewr", ROUND_TS, opts, **kw))
    return results, time.monotonic() - started


def test_a_round_of_120_timing_out_targets_lasts_one_timeout_not_the_sum():
    with serving("silent") as port:
        results, wall_s = timed_round(targets(port, 120, ("tls", "tcp")), ProbeOptions(timeout_s=TIMEOUT_S))
    assert TIMEOUT_S <= wall_s < TIMEOUT_S + OVERHEAD_S
    tls = [r for r in results if r.probe == "tls"]
    assert len(tls) == 120 and all(r.measurement.error == "timeout" and r.loss == 1 for r in tls)
    assert all(r.ok for r in results if r.probe == "tcp")


def test_concurrency_bound_makes_waves():
    opts = ProbeOptions(timeout_s=0.3, concurrency=10)
    with serving("silent") as port:
        results, wall_s = timed_round(targets(port, 30, ("tls",)), opts)
    assert len(results) == 30
    assert 3 * 0.3 <= wall_s < 3 * 0.3 + OVERHEAD_S


def test_results_are_stamped_with_region_round_and_start_time_in_plan_order():
    seen = []
    with serving("tcp") as port:
        before = time.time()
        results, _ = timed_round(targets(port, 3, ("tcp",)), ProbeOptions(tcp_samples=2), on_result=seen.append)
        after = time.time()
    assert [r.probe for r in results] == ["tcp"] * 3
    assert sorted(map(id, seen)) == sorted(map(id, results))
    for r in results:
        assert (r.region, r.round_ts) == ("ewr", ROUND_TS)
        assert before <= r.ts <= after
        assert r.id == f"ewr/{iso_utc(ROUND_TS)}/{LOCALHOST}/tcp"
        assert r.ok and r.loss == 0


def test_probe_filter_narrows_each_targets_own_list():
    catalog = [Target("a.example", "a", "c", probes=("icmp", "tcp", "dns")),
               Target("b.example", "b", "c", probes=("tls",))]
    assert plan_round(catalog, ProbeOptions()) == [
        (catalog[0], "icmp"), (catalog[0], "tcp"), (catalog[0], "dns"), (catalog[1], "tls")]
    assert plan_round(catalog, ProbeOptions(probes=("tcp", "tls"))) == [
        (catalog[0], "tcp"), (catalog[1], "tls")]


def test_budget_covers_spaced_samples_and_one_timeout():
    opts = ProbeOptions(icmp_samples=20, tcp_samples=3, interval_s=0.25, timeout_s=2.0)
    assert opts.budget_s("icmp") == 19 * 0.25 + 2.0
    assert opts.budget_s("tcp") == 2 * 0.25 + 2.0
    assert opts.budget_s("trace") == 2.0


def test_a_setup_error_stops_the_round_at_once_and_propagates():
    bad_resolver = ProbeOptions(dns_server="not-an-ip", timeout_s=5.0)
    with serving("silent") as port:
        slow = targets(port, 5, ("tls",))
        started = time.monotonic()
        with pytest.raises(CollectError, match="not-an-ip"):
            asyncio.run(run_round([*slow, Target("a.example", "a", "c", probes=("dns",))], "ewr",
                                  ROUND_TS, bad_resolver))
    assert time.monotonic() - started < 1.0
