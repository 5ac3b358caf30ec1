"""The per-round signal helpers the build still uses until it publishes events
(tests/build/test_events.py); precision and false-alarm rates are measured by bench/signals.py
on a realistic base rate, not here."""
from __future__ import annotations

import numpy as np
import pytest

from build.compute.detect import RouteInput, SeriesInput, compute_round_signals
from build.compute.signals import (compute_divergent, compute_region_staleness, compute_rtt_z,
                           compute_theil_sen, scope_of, trend_fires)
from build.compute.signals_route import RouteEvent, compute_route_changes

ROUND = 900
N_ROUNDS = 97  # 24 h of baseline and the evaluated round
LEVEL_MS = 40.0
SIGMA_MS = 1.0
NOW = 1_800_000_000 // ROUND * ROUND


def _noise(rng: np.random.Generator) -> np.ndarray:
    return LEVEL_MS + rng.normal(0, SIGMA_MS, N_ROUNDS)


def test_one_earlier_spike_does_not_hide_the_next():
    y = _noise(np.random.default_rng(1))
    y[50] += 40
    y[-1] += 6
    assert compute_rtt_z(y[:-1], float(y[-1])) > 4


@pytest.mark.parametrize("values, latest", [
    ([], 5.0), ([5.0], 5.0), ([5.0] * 3, 9.0), ([float("nan")] * 20, 5.0), ([5.0] * 20, float("nan")),
])
def test_short_or_empty_baseline_gives_nan_not_a_signal(values, latest):
    assert np.isnan(compute_rtt_z(np.array(values, dtype=float), latest))


def test_flat_series_does_not_divide_by_zero():
    z = compute_rtt_z(np.full(50, 10.0), 10.5)
    assert np.isfinite(z) and z > 2.0  # the floor keeps a real step visible


def test_weekly_baseline_absorbs_a_daily_rhythm_after_two_weeks():
    recent = np.full(40, 20.0) + np.random.default_rng(3).normal(0, 0.5, 40)
    assert compute_rtt_z(recent, 30.0) > 2
    assert abs(compute_rtt_z(recent, 30.0, np.array([29.5, 30.2]))) < 2
    assert compute_rtt_z(recent, 30.0, np.array([30.0])) > 2  # one week is not enough


def test_theil_sen_slope_and_interval_cover_the_true_ramp():
    rng = np.random.default_rng(5)
    t = np.arange(24) / 4.0
    fit = compute_theil_sen(t, 10 + 3.0 * t + rng.normal(0, 0.5, 24))
    assert fit.low_ms_per_h < 3.0 < fit.high_ms_per_h
    assert trend_fires(fit, 1.0)
    assert compute_theil_sen(np.array([0.0]), np.array([1.0])) is None


def test_route_change_needs_two_rounds_and_ignores_a_flapping_balancer():
    ts = list(range(0, 10 * ROUND, ROUND))
    flap = ["A", "A", "B", "A", "B", "A", "B", "A", "B", "A"]
    assert compute_route_changes(ts, flap) == []
    moved = ["A", "A", None, "A", "B", "B", "B", "C", "A", "A"]
    events = compute_route_changes(ts, moved)
    assert [(e.ts, e.old_fingerprint, e.new_fingerprint) for e in events] == [
        (5 * ROUND, "A", "B"), (9 * ROUND, "B", "A")]
    assert events[0].old_round_ts == 3 * ROUND


def test_divergence_fires_for_one_lagging_target_among_calm_peers():
    assert compute_divergent(np.array([6.0, 0.2, -0.4, 0.1, 0.3])).tolist() == [
        True, False, False, False, False]
    assert not compute_divergent(np.array([6.0, 5.0, 4.0, 0.1, 4.5])).any()
    assert not compute_divergent(np.array([6.0, 0.2])).any()  # too few peers


def test_signal_from_four_regions_is_global_and_lists_them():
    rng = np.random.default_rng(9)
    ts = NOW - ROUND * np.arange(N_ROUNDS)[::-1]
    series = []
    for i, region in enumerate(("ewr", "ord", "lhr", "fra", "sin", "nrt", "bom")):
        y = _noise(rng)
        if i < 4:
            y[-1] += 12
        series.append(SeriesInput("x.example", "X", "Banks", region, "icmp", ts, y))
    spikes = [g for g in compute_round_signals(series, [], NOW) if g.type == "rtt_anomaly"]
    assert {g.region for g in spikes} == {"ewr", "ord", "lhr", "fra"}
    assert all(g.scope == "global" and g.regions == ("ewr", "fra", "lhr", "ord") for g in spikes)
    assert scope_of(1) == "regional"


def test_route_change_signal_carries_old_and_new_hops():
    event = RouteEvent(NOW, "A", "B", NOW - ROUND * 3)
    route = RouteInput("x.example", "X", "sin", event, ("10.0.0.1", "*"), ("10.0.0.9",))
    (g,) = compute_round_signals([], [route], NOW)
    assert (g.type, g.old_hops, g.new_hops, g.scope) == (
        "route_change", ("10.0.0.1", "*"), ("10.0.0.9",), "regional")


def test_region_missing_the_round_or_never_reporting_is_stale():
    got = compute_region_staleness({"fra": NOW, "sin": NOW - ROUND, "bom": None}, NOW, NOW)
    assert got == {"fra": None, "sin": "missed the latest round", "bom": "never reported"}
    late = compute_region_staleness({"fra": NOW}, NOW, NOW + ROUND)
    assert late == {"fra": "round late"}
