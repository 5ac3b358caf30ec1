"""The detector's statistics, table-driven on small arrays with fixed seeds: the change rule,
onsets, per-side scales, ramps, the binomial loss tests and route runs. Whole events are in
test_events.py; rates in bench/signals.py."""
from __future__ import annotations

import numpy as np
import pytest

from build.compute.assemble import compute_region_staleness
from build.compute.changes import (GUARD_ROUNDS, LATEST_TESTED, LEAST_EACH_Z, MIN_BASELINE,
                                   PATH_TESTS, SHIFT_TESTS, RttWindow, compute_onsets,
                                   compute_ramps, compute_rtt_window, compute_shift_tests)
from build.compute.loss import binomial_tail, compute_loss_window, normal_score
from build.compute.panel import NO_ROUTE, compute_season
from build.compute.route_events import compute_route_window, describe_hops, route_holds

ROUND = 900
NOW = 1_800_000_000 // 3600 * 3600  # on the hour: the latest 8 rounds are judged
GRID = NOW - ROUND * np.arange(95, -1, -1)
NAN = np.full((1, 96), np.nan)
nan = float("nan")


def _window(*tails: list[float], seed: int = 1) -> RttWindow:
    """One series per tail: Gaussian noise (sigma 1 % of 40 ms), then rounds tail sigmas off."""
    rng = np.random.default_rng(seed)
    y = 40 * np.exp(0.01 * rng.standard_normal((len(tails), 96)))
    for row, tail in enumerate(tails):
        y[row, -len(tail):] = 40 * np.exp(0.01 * np.array(tail, dtype=float))
    return compute_rtt_window(y, np.full(y.shape, np.nan), GRID)


@pytest.mark.parametrize("tail, expected", [
    ([0, 0, 0, 0, 0], 0),  # noise
    ([0, 0, 0, 0, 30], 0),  # one outlier (a retransmitted packet) opens nothing
    ([0, 0, 0, 30, 30], 0),  # nor do two
    ([0, 0, 6, 6, 6], 1),  # a large change: three rounds
    ([2.6, 2.6, 2.6, 2.6, 2.6], 1),  # a moderate one held for 75 minutes
    ([3.5, 3.5, -3, 3.5, 3.5], 1),  # one contrary round among five is allowed
    ([3.5, -3, 3.5, -3, 3.5], 0),  # two are not
    ([0, 0, -6, -6, -6], -1),  # drops count as well
    ([6, 6, 6, 6, float("nan")], 0),  # a series silent this round changes nothing
])
def test_the_change_rule_needs_a_held_change_not_single_rounds(tail, expected):
    assert compute_shift_tests(_window(tail))[0] == expected


@pytest.mark.parametrize("first, second, expected", [
    ([0, 0, 0, 4, 4], [0, 0, 0, 4, 4], [1, 1]),  # a path's change: two probes, two rounds
    ([0, 0, 0, 4, 4], [0, 0, 0, 0, 0], [0, 0]),  # one probe alone needs three
    ([0, 0, 0, 0, 30], [0, 0, 0, 0, 30], [0, 0]),  # one round in both is a spike
    ([0, 0, 0, nan, 4], [0, 0, 0, 4, 4], [1, 1]),  # a lost round is no contrary one
    ([0, 0, 0, 4, 4], [0, 0, 0, 4, nan], [1, 1]),  # one silent this round still backs it
    ([0, 0, 0, 4, nan], [0, 0, 0, 4, nan], [0, 0]),  # but a path silent this round does not
    ([0, 1.8, 1.8, 1.8, 1.8], [0, 1.8, 1.8, 1.8, 1.8], [1, 1]),  # moderate, 4 rounds
    ([0, 0, 0, -5, -5], [0, 0, 0, -5, -5], [-1, -1]),
])
def test_two_probes_of_one_path_agreeing_open_sooner_than_one(first, second, expected):
    w = _window(first, second)
    assert compute_shift_tests(w, np.array([0, 0])).tolist() == expected
    assert compute_shift_tests(w, np.array([0, 1])).tolist() == [0, 0]  # two paths


def test_every_change_test_needs_a_round_beyond_so_series_without_one_are_not_tallied():
    # compute_shift_tests tallies only series with one of their latest LATEST_TESTED rounds
    # beyond LEAST_EACH_Z (and the outer quantile): each test must need one
    for t in SHIFT_TESTS:  # beyond >= measured - contrary >= rounds - missing - contrary
        assert t.rounds - t.missing - t.contrary >= 1
    for t in SHIFT_TESTS + PATH_TESTS:  # a path's member shows it in half its rounds
        assert t.each_z >= LEAST_EACH_Z and 1 <= t.rounds <= LATEST_TESTED


def test_onset_is_the_first_round_of_the_latest_run_beyond_one_sigma():
    w = _window([0, 0, 0, 5, 5, 5])
    assert compute_onsets(w, np.array([1]))[0] == 96 - 3


def test_too_short_a_baseline_gives_no_level_and_no_z():
    y = np.full((1, 96), np.nan)
    y[0, -(GUARD_ROUNDS + MIN_BASELINE - 1):] = 40.0
    w = compute_rtt_window(y, NAN, GRID)
    assert np.isnan(w.level[0]) and np.isnan(w.z).all()


def test_a_flat_series_has_a_floored_scale_and_still_sees_a_step():
    y = np.full((1, 96), 10.0)
    y[0, -3:] = 10.5
    w = compute_rtt_window(y, NAN, GRID)
    assert w.scale_up[0] == pytest.approx(0.005 * 1.0, rel=1e-6) or w.scale_up[0] > 0
    assert compute_shift_tests(w)[0] == 1


def test_a_right_tail_widens_only_the_upper_scale():
    rng = np.random.default_rng(2)
    y = 20 + rng.exponential(1.0, (1, 96))
    w = compute_rtt_window(y, NAN, GRID)
    assert w.scale_up[0] > 2 * w.scale_down[0]


def test_the_hour_of_week_season_takes_the_median_of_earlier_weeks_once_two_exist():
    week = 7 * 86400
    rounds = np.array([NOW], dtype=np.int64)
    hour = NOW // 3600 * 3600
    hours = np.array([hour - 3 * week, hour - 2 * week, hour - week])
    assert compute_season(rounds, hours, np.array([[10.0, 30.0, 20.0]]))[0, 0] == 20.0
    assert np.isnan(compute_season(rounds, hours, np.array([[np.nan, np.nan, 20.0]]))[0, 0])


@pytest.mark.parametrize("slope, expected", [(0.5, 1), (-0.5, -1), (0.0, 0)])
def test_a_steady_ramp_is_a_trend_and_noise_is_not(slope, expected):
    rng = np.random.default_rng(4)
    y = 40 * np.exp(0.01 * (rng.standard_normal(96) + slope * np.maximum(
        np.arange(96) - 60, 0)))
    assert compute_ramps(compute_rtt_window(y[None, :], NAN, GRID))[0] == expected


def test_a_step_is_not_a_trend():
    rng = np.random.default_rng(5)
    y = 40 * np.exp(0.01 * (rng.standard_normal(96) + 8.0 * (np.arange(96) >= 84)))
    assert compute_ramps(compute_rtt_window(y[None, :], NAN, GRID))[0] == 0


@pytest.mark.parametrize("n, p, k, expected", [
    (80, 0.0, 2, 0.0), (80, 0.05, 0, 1.0), (4, 0.5, 4, 0.0625), (80, 0.05, 2, 0.9139),
])
def test_binomial_tail(n, p, k, expected):
    assert binomial_tail(n, p, k) == pytest.approx(expected, abs=1e-4)


def test_normal_score_is_the_upper_tail_quantile():
    assert normal_score(0.0013499) == pytest.approx(3.0, abs=1e-3)
    assert normal_score(0.0) == 40.0


def _loss(base_lost_rounds: int, recent: list[float], samples: int = 20):
    loss = np.zeros((1, 96))
    loss[0, :base_lost_rounds] = 1.0
    loss[0, -len(recent):] = recent
    return compute_loss_window(loss, np.array([samples]), NAN, GRID)


@pytest.mark.parametrize("base_lost, recent, fires", [
    (0, [0, 0, 0.05, 0.05], True),  # 2 of 80 samples where none was ever lost
    (0, [0, 0, 0, 0.05], False),  # one sample
    (2, [0, 0, 1.0, 1.0], False),  # 2 lost rounds where 2 of 88 were lost before
    (0, [0, 1.0, 1.0, 1.0], True),  # an outage
    (0, [0.15, 0.2, 0.1, 0.25], True),
])
def test_loss_fires_on_a_sustained_rise_not_on_the_usual_lost_rounds(base_lost, recent, fires):
    assert bool(_loss(base_lost, recent).fires[0]) is fires


def test_route_flapping_among_known_paths_is_no_change_and_a_new_path_is():
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 2, (1, 96))  # ECMP: paths 0 and 1 at random
    assert compute_route_window(codes, GRID).new_rounds[0] == 0
    codes[0, -3:] = [5, NO_ROUTE, 5]
    w = compute_route_window(codes, GRID)
    assert w.new_rounds[0] == 2 and w.onset[0] == 93 and w.new_code[0] == 5
    assert route_holds(codes[0], 93)
    codes[0, -2:] = [0, 1]
    assert not route_holds(codes[0], 93)


@pytest.mark.parametrize("old, new, text, hop", [
    (("a", "b", "c"), ("a", "x", "c"), "route via x replaced b at hop 2", 2),
    (("a", "*", "c"), ("a", "b", "d"), "route via d replaced c at hop 3", 3),
    (("a", "b"), ("a", "b", "c"), "route now 3 hops (was 2)", None),
    (("a", "*"), ("a", "b"), "route changed at a silent hop", None),
])
def test_hop_descriptions(old, new, text, hop):
    assert describe_hops(old, new) == (text, hop)


def test_region_missing_the_round_or_never_reporting_is_stale():
    got = compute_region_staleness({"fra": NOW, "sin": NOW - ROUND, "bom": None}, NOW, NOW)
    assert got == {"fra": None, "sin": "missed the latest round", "bom": "never reported"}
    late = compute_region_staleness({"fra": NOW}, NOW, NOW + ROUND)
    assert late == {"fra": "round late"}
