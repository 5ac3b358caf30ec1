"""The trace probe against the lab: hop counts match the topology, and the path fingerprint
changes when a route moves live and stays put when it does not."""
from __future__ import annotations

import pytest

from tests.lab.collect_run import need_collector_lab, run_collect, write_catalog
from tests.lab.topology import Lab, LabTarget

pytestmark = pytest.mark.lab

ONE_HOP = LabTarget(1, 5.0)
TWO_HOP = LabTarget(1, 5.0, kind="two_hop")
MOVER = LabTarget(2, 5.0)
R1, R2 = "10.77.0.2", "10.77.0.10"
COLLECTOR_LINK = "10.77.0.0/30"


@pytest.fixture(scope="module")
def lab():
    need_collector_lab()
    with Lab([ONE_HOP, TWO_HOP, MOVER]) as built:
        yield built


def trace(lab: Lab, targets: list[LabTarget]) -> dict[str, dict]:
    """One trace round over targets: their trace records by address."""
    catalog = write_catalog(lab.workdir / "trace.toml", targets, ("trace",))
    run = run_collect(lab, catalog, "trace")
    return {x.address: run.record(x, "trace") for x in targets}


def test_a_two_hop_target_traces_one_hop_longer_than_a_one_hop_target(lab):
    records = trace(lab, [ONE_HOP, TWO_HOP])
    one, two = records[ONE_HOP.address], records[TWO_HOP.address]
    assert one["ok"] and two["ok"], (one, two)
    assert [h["address"] for h in one["hops"]] == [R1, ONE_HOP.address]
    assert [h["address"] for h in two["hops"]] == [R1, R2, TWO_HOP.address]
    assert one["path"] == [R1, ONE_HOP.address]
    assert one["fingerprint"] != two["fingerprint"]
    assert two["hops"][-1]["rtt_ms"] >= TWO_HOP.delay_ms


def test_a_live_route_move_changes_the_fingerprint_and_an_unchanged_path_keeps_it(lab):
    before = trace(lab, [MOVER])[MOVER.address]
    again = trace(lab, [MOVER])[MOVER.address]
    lab.move_to_two_hops(MOVER)
    try:
        moved = trace(lab, [MOVER])[MOVER.address]
    finally:
        lab.move_to_one_hop(MOVER)
    assert before["ok"] and again["ok"] and moved["ok"]
    assert again["fingerprint"] == before["fingerprint"]
    assert moved["fingerprint"] != before["fingerprint"]
    assert len(moved["hops"]) == len(before["hops"]) + 1
    assert R2 in moved["path"] and R2 not in before["path"]


def test_a_silent_router_stays_in_the_trace_as_a_star(lab):
    """r2's ICMP errors to the collector are blackholed (it forwards, but never answers): the
    hop is kept as '*' and counted, and left out of the path."""
    lab.r2.route("blackhole", COLLECTOR_LINK)
    try:
        record = trace(lab, [TWO_HOP])[TWO_HOP.address]
    finally:
        lab.r2.run(["ip", "route", "del", "blackhole", COLLECTOR_LINK])
    assert record["ok"], record
    assert [h["address"] for h in record["hops"]] == [R1, "*", TWO_HOP.address]
    assert record["hops"][1]["rtt_ms"] is None
    assert record["path"] == [R1, TWO_HOP.address]
