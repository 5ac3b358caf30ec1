"""`nettrace collect` against the network lab: every figure is checked against the delay, jitter
and loss the lab injects (the ground truth), for a lone target and inside a 100-target round.
Medians are checked against the delay the lab really applied to the probe's exchanges, which
is the configured one unless the delayer ran late (tests/lab/applied.py)."""
from __future__ import annotations

import statistics

import pytest

from tests.lab.collect_run import CollectRun, need_collector_lab, run_collect, write_catalog
from tests.lab.topology import Lab, LabTarget, LabTruth

pytestmark = pytest.mark.lab

ZERO = LabTarget(1, 0.0)
FIVE, TWENTY, EIGHTY = LabTarget(2, 5.0), LabTarget(3, 20.0), LabTarget(4, 80.0)
LOSSY = LabTarget(5, 20.0, loss_ratio=0.2)
JITTERY = LabTarget(6, 20.0, jitter_ms=10.0)
STEADY = LabTarget(7, 20.0)  # JITTERY's twin without jitter
NO_ICMP = LabTarget(1, 20.0, kind="no_icmp")
DEAD = LabTarget(1, kind="dead")
NAMED = [ZERO, FIVE, TWENTY, EIGHTY, LOSSY, JITTERY, STEADY, NO_ICMP, DEAD]
# A 100-target round: the named ones but ZERO (the yardstick's), the rest spread over 1..150 ms.
CROWD = NAMED + [LabTarget(i, 1.0 + (i * 37) % 150) for i in range(10, 10 + 101 - len(NAMED))]
DELAYED = [FIVE, TWENTY, EIGHTY]
PROBES = ["icmp", "tcp"]
TIMEOUT_S, INTERVAL_S = 2.0, 0.25  # the collector's defaults (collect/probes/options.py)
FAST_INTERVAL_S = 0.1  # lone targets and 50-sample runs: their figures do not depend on spacing
SLACK_S = 3.0  # scheduling on a busy 2-core test machine; a serial round would be 4x over


def tolerance_ms(delay_ms: float) -> float:
    """The bar the issue sets: max(0.5 ms, 3 %)."""
    return max(0.5, 0.03 * delay_ms)


@pytest.fixture(scope="module")
def lab():
    need_collector_lab()
    with Lab(CROWD) as built:
        yield built


def collect(lab: Lab, targets: list[LabTarget], probes: str, samples: int | None = None,
            interval_s: float | None = None) -> CollectRun:
    catalog = write_catalog(lab.workdir / "catalog.toml", targets, ("icmp", "tcp"))
    return run_collect(lab, catalog, probes, samples, interval_s)


def collect_measured(lab: Lab, targets: list[LabTarget],
                     interval_s: float | None = None) -> tuple[CollectRun, LabTruth]:
    """An icmp+tcp round, and what the lab measured during it: the TUN overhead per probe kind
    (by the yardstick on ZERO, which is not in the round) and the delays it applied."""
    with lab.measuring(ZERO) as truth:
        run = collect(lab, targets, "icmp,tcp", interval_s=interval_s)
    return run, truth


@pytest.fixture(scope="module")
def crowd(lab) -> tuple[CollectRun, LabTruth]:
    """One 100-target round."""
    return collect_measured(lab, [x for x in CROWD if x != ZERO])


def assert_median_is_injected_delay(record: dict, target: LabTarget, truth: LabTruth) -> None:
    assert record["ok"], record
    error_ms = truth.error_ms(record, target.address)
    applied_ms = truth.applied.median_ms(target.address, record["probe"])
    assert abs(error_ms) <= tolerance_ms(target.delay_ms), (
        f"{record['probe']} {target.delay_ms} ms target (applied {applied_ms} ms): median "
        f"{record['rtt_ms']} ms, TUN overhead {truth.overhead_ms[record['probe']]:.3f} ms, "
        f"error {error_ms:+.3f} ms")


@pytest.mark.parametrize("target", DELAYED, ids=lambda t: f"{t.delay_ms:g}ms")
def test_median_rtt_of_a_lone_target_is_the_injected_delay(lab, target):
    run, truth = collect_measured(lab, [target], FAST_INTERVAL_S)
    for probe in PROBES:
        assert_median_is_injected_delay(run.record(target, probe), target, truth)


@pytest.mark.parametrize("probe", PROBES)
def test_median_rtt_holds_while_100_targets_are_probed_at_once(crowd, probe):
    run, truth = crowd
    assert len({r["target"] for r in run.records}) == 100
    for target in DELAYED:
        assert_median_is_injected_delay(run.record(target, probe), target, truth)


def test_a_100_target_round_takes_about_one_probe_budget_not_the_sum(crowd):
    """Timed from the first probe's start, so the interpreter's start-up (seconds on a loaded
    2-core machine) does not count; the round itself is the runner's business."""
    budget_s = 19 * INTERVAL_S + TIMEOUT_S  # 20 spaced icmp samples, the last may time out
    assert crowd[0].round_s < budget_s + SLACK_S


def test_an_icmp_dropping_target_still_gets_its_latency_from_tcp(crowd):
    run, truth = crowd
    icmp = run.record(NO_ICMP, "icmp")
    assert not icmp["ok"] and icmp["loss"] == 1 and icmp["error"]
    assert_median_is_injected_delay(run.record(NO_ICMP, "tcp"), NO_ICMP, truth)


def test_a_dead_target_yields_an_error_and_full_loss_within_about_one_timeout(lab):
    run = collect(lab, [DEAD], "icmp,tcp", samples=3)
    for probe in PROBES:
        record = run.record(DEAD, probe)
        assert not record["ok"] and record["loss"] == 1 and record["error"], record
        assert record["samples_ms"] == [None] * 3
    assert TIMEOUT_S <= run.round_s < 2 * INTERVAL_S + TIMEOUT_S + SLACK_S


def test_injected_loss_of_20_percent_is_reported_within_10_points_over_50_samples(lab):
    run = collect(lab, [LOSSY], "icmp", samples=50, interval_s=FAST_INTERVAL_S)
    record = run.record(LOSSY, "icmp")
    assert len(record["samples_ms"]) == 50
    assert abs(record["loss"] - LOSSY.loss_ratio) <= 0.10, record["loss"]


def test_injected_jitter_is_reported_and_a_steady_twin_shows_next_to_none(lab):
    """Uniform ±10 ms jitter makes consecutive samples differ by 2/3 × 10 ms on average; the
    steady twin's shows only what the lab really applied (a delayer descheduled on a busy host
    adds its own, which the collector rightly reports)."""
    with lab.measuring(ZERO) as truth:
        run = collect(lab, [JITTERY, STEADY], "icmp", samples=50, interval_s=FAST_INTERVAL_S)
    expected_ms = 2 / 3 * JITTERY.jitter_ms
    jittery, steady = run.record(JITTERY, "icmp"), run.record(STEADY, "icmp")
    assert 0.7 * expected_ms < jittery["jitter_ms"] < 1.3 * expected_ms, jittery["jitter_ms"]
    applied = truth.applied.delays_ms[(STEADY.address, "icmp")]
    applied_jitter_ms = statistics.fmean(abs(b - a) for a, b in zip(applied, applied[1:]))
    assert 0 <= steady["jitter_ms"] < 0.5 + applied_jitter_ms, (steady["jitter_ms"],
                                                                applied_jitter_ms)
    assert jittery["max_ms"] - jittery["min_ms"] > JITTERY.jitter_ms
