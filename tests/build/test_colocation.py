"""Colocation advice: ranking, intervals, steadiness, verdicts and venue pairs on generated hourly
medians with known region RTTs (synthetic, seeded); the read from real rollups; the documents."""
from __future__ import annotations

import json
from types import SimpleNamespace

import html5lib
import numpy as np
import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from build.compute.colocation import (BOOTSTRAP_REPLICATES, DAY_HOURS, MIN_HOURS, WINDOW_HOURS,
                                      HourlyGrid, colocation_grid, compute_colocation,
                                      compute_colocation_advice,
                                      compute_pairs, masked_median)
from build.read.state import read_checkpoint
from build.read.week import read_week_hourly
from build.render.colocation import build_host_page, colocation_paths, render_colocation_json
from build.render.html import TEMPLATES
from db.connection import connect
from tests.factories import make_db

REGIONS = ("ewr", "ord", "lhr", "fra", "sin", "nrt", "bom")
PROBES = ("icmp", "tcp")
HOUR0 = 1_795_000_000 - 1_795_000_000 % 3600
# exactly representable RTTs (ms) per region, so medians and gaps compare with ==
LEVELS = {"ewr": 80.5, "ord": 90.25, "lhr": 160.0, "fra": 170.75, "sin": 6.0, "nrt": 1.5,
          "bom": 40.125}


def grid_of(levels: dict[str, dict[str, np.ndarray | float]]) -> HourlyGrid:
    """A grid from host -> {"probe/region": hourly values or one constant}; NaN elsewhere."""
    hosts = tuple(levels)
    data = np.full((len(hosts), len(PROBES), len(REGIONS), WINDOW_HOURS), np.nan)
    for t, host in enumerate(hosts):
        for key, values in levels[host].items():
            probe, region = key.split("/")
            data[t, PROBES.index(probe), REGIONS.index(region)] = values
    return HourlyGrid(hosts, PROBES, REGIONS, HOUR0, data)


def constant(probe: str, levels: dict[str, float]) -> dict[str, float]:
    return {f"{probe}/{region}": ms for region, ms in levels.items()}


def by_day(*day_values: float) -> np.ndarray:
    """168 hourly values, one constant per day (oldest first)."""
    return np.repeat(np.array(day_values, dtype=float), DAY_HOURS)


def test_known_region_rtts_give_the_exact_ranking_gaps_intervals_and_verdict():
    [advice] = compute_colocation(grid_of({"api.example.com": constant("icmp", LEVELS)}))
    order = sorted(REGIONS, key=LEVELS.get)
    assert advice.probe == "icmp"
    assert [r.region for r in advice.ranking] == order
    assert [r.rank for r in advice.ranking] == list(range(1, 8))
    assert [r.median_ms for r in advice.ranking] == [LEVELS[r] for r in order]
    for r in advice.ranking:
        gap = LEVELS[r.region] - LEVELS["nrt"]
        assert (r.gap_ms, r.gap_low_ms, r.gap_high_ms, r.hours) == (gap, gap, gap, WINDOW_HOURS)
    assert (advice.days, advice.best_changes, advice.best_held_days) == (7, 0, 7)
    assert advice.verdict == ("Host in nrt: 1.5 ms. sin is 4.5 ms slower (95 % CI 4.5–4.5). "
                              "The best region has held for 7 days.")
    assert advice.summary == "Host in nrt: 1.5 ms. The best region has held for 7 days."


def test_tcp_ranks_the_regions_when_icmp_is_blocked_or_misses_a_region():
    blocked = constant("tcp", {"ewr": 3.0, "lhr": 70.0})
    partial = constant("icmp", {"ewr": 2.0}) | constant("tcp", {"ewr": 3.0, "lhr": 70.0})
    full = constant("icmp", {"ewr": 2.0, "lhr": 69.0}) | constant("tcp", {"ewr": 3.0})
    a, b, c = compute_colocation(grid_of({"a.example": blocked, "b.example": partial,
                                          "c.example": full}))
    assert (a.probe, b.probe, c.probe) == ("tcp", "tcp", "icmp")
    assert [r.median_ms for r in b.ranking] == [3.0, 70.0]
    assert [r.median_ms for r in c.ranking] == [2.0, 69.0]


def test_a_region_with_less_than_a_day_of_hours_is_not_ranked():
    few = np.full(WINDOW_HOURS, np.nan)
    few[-(MIN_HOURS - 1):] = 0.5  # faster, but 23 hours only
    [advice] = compute_colocation(grid_of({"a.example": {"icmp/ewr": 9.0, "icmp/lhr": few}}))
    assert [r.region for r in advice.ranking] == ["ewr"]
    assert advice.verdict == ("Host in ewr: 9.0 ms. No other region has enough data to "
                              "compare. The best region has held for 7 days.")


def test_a_target_without_data_gets_no_region_and_says_so():
    [advice] = compute_colocation(grid_of({"quiet.example": {}}))
    assert (advice.probe, advice.ranking, advice.best) == (None, (), None)
    assert advice.verdict == advice.summary == (
        "Not enough data yet: no region has 24 hourly medians in the last 7 days.")


def test_best_region_changes_are_counted_per_day_and_the_verdict_says_since_when():
    # lhr leads the first three days, fra the last four: fra has the lower 7-day median
    steady = {"icmp/lhr": by_day(2, 2, 2, 6, 6, 6, 6), "icmp/fra": by_day(5, 5, 5, 1, 1, 1, 1)}
    # lhr has the lower 7-day median, but fra led the last three days
    flipped = {"icmp/lhr": by_day(2, 2, 2, 2, 6, 6, 6), "icmp/fra": by_day(5, 5, 5, 5, 1, 1, 1)}
    back = {"icmp/lhr": by_day(2, 6, 2, 6, 2, 2, 2), "icmp/fra": by_day(5, 1, 5, 1, 5, 5, 5)}
    a, b, c = compute_colocation(grid_of({"a.example": steady, "b.example": flipped,
                                          "c.example": back}))
    assert (a.best.region, a.best_changes, a.best_held_days) == ("fra", 1, 4)
    assert a.verdict.endswith("The best region has held for 4 days (1 change in 7 days).")
    assert (b.best.region, b.best_changes, b.best_held_days, b.latest_best) == ("lhr", 1, 0,
                                                                                "fra")
    assert b.verdict.endswith("fra was best on the latest day (1 change in 7 days).")
    assert (c.best.region, c.best_changes, c.best_held_days) == ("lhr", 4, 3)


def test_pairs_take_the_region_with_the_lowest_worse_rtt_of_the_two():
    grid = grid_of({
        "a.example": constant("icmp", {"ewr": 1.0, "lhr": 70.0, "sin": 200.0}),
        "b.example": constant("icmp", {"ewr": 80.0, "lhr": 2.0, "sin": 150.0}),
        "c.example": constant("icmp", {"ewr": 75.0, "lhr": 75.0}),
        "d.example": constant("icmp", {"nrt": 1.0}),
    })
    [group] = compute_pairs(compute_colocation(grid), REGIONS,
                            {"Venues": ("a.example", "b.example", "c.example", "d.example")})
    pairs = {(p.host_a, p.host_b): (p.region, p.worst_ms, p.a_ms, p.b_ms) for p in group.pairs}
    assert pairs == {
        ("a.example", "b.example"): ("lhr", 70.0, 70.0, 2.0),
        ("a.example", "c.example"): ("ewr", 75.0, 1.0, 75.0),  # ties lhr: ewr comes first
        ("b.example", "c.example"): ("lhr", 75.0, 2.0, 75.0),
        ("a.example", "d.example"): (None, None, None, None),
        ("b.example", "d.example"): (None, None, None, None),
        ("c.example", "d.example"): (None, None, None, None),
    }
    tie = grid_of({"a.example": constant("icmp", {"ewr": 5.0, "lhr": 5.0}),
                   "b.example": constant("icmp", {"ewr": 3.0, "lhr": 4.0})})
    [[pair]] = [g.pairs for g in compute_pairs(compute_colocation(tie), REGIONS,
                                               {"X": ("a.example", "b.example")})]
    assert (pair.region, pair.worst_ms) == ("ewr", 5.0)


def test_the_interval_covers_the_true_gap_in_at_least_93_percent_of_200_trials():
    true_gap = 4.0
    covered = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        # skewed noise with the same law in both regions: the gap of medians is the gap of levels
        noise = rng.gamma(2.0, 1.5, size=(2, WINDOW_HOURS))
        noise[rng.random(noise.shape) < 0.05] = np.nan  # missed hours
        [advice] = compute_colocation(grid_of({"a.example": {
            "icmp/nrt": 10.0 + noise[0], "icmp/sin": 10.0 + true_gap + noise[1]}}))
        second = advice.ranking[1]
        assert second.region == "sin"
        covered += second.gap_low_ms <= true_gap <= second.gap_high_ms
    assert covered >= 186, covered


def test_the_interval_matches_a_brute_force_bootstrap_of_the_same_hours():
    rng = np.random.default_rng(11)
    best, other = 5 + rng.gamma(2, 1, WINDOW_HOURS), 9 + rng.gamma(2, 1, WINDOW_HOURS - 1)
    other = np.append(other, np.nan)  # an odd and an even sample size
    [advice] = compute_colocation(grid_of({"a.example": {"icmp/ewr": best, "icmp/ord": other}}))
    kept = other[np.isfinite(other)]
    draws = 20_000
    brute = (np.median(rng.choice(kept, (draws, kept.size)), axis=1)
             - np.median(rng.choice(best, (draws, best.size)), axis=1))
    low, high = np.quantile(brute, [0.025, 0.975])
    second = advice.ranking[1]
    width = high - low
    assert abs(second.gap_low_ms - low) < 0.1 * width
    assert abs(second.gap_high_ms - high) < 0.1 * width
    assert BOOTSTRAP_REPLICATES >= 1000


def test_masked_median_equals_nanmedian_and_counts_the_finite_values():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(5, 4, 9))
    values[rng.random(values.shape) < 0.3] = np.nan
    values[0, 0] = np.nan
    median, count = masked_median(values)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(values, axis=-1)
    np.testing.assert_array_equal(median, expected)
    np.testing.assert_array_equal(count, np.isfinite(values).sum(axis=-1))


def noisy_grid(seed: int) -> HourlyGrid:
    rng = np.random.default_rng(seed)
    hosts = ("a.example", "b.example", "c.example")
    levels = {h: {f"icmp/{r}": rng.uniform(1, 200) + rng.gamma(2, 1, WINDOW_HOURS)
                  for r in REGIONS} for h in hosts}
    return grid_of(levels)


def test_the_same_rows_give_the_same_documents_byte_for_byte():
    categories = {"Crypto Exchanges": ("a.example", "b.example"), "Cloud & DNS": ("c.example",)}
    first = render_colocation_json(compute_colocation_advice(noisy_grid(5), categories), HOUR0)
    again = render_colocation_json(compute_colocation_advice(noisy_grid(5), categories), HOUR0)
    assert first == again
    public, private = first
    assert (tuple(public), tuple(private)) == colocation_paths(
        ("a.example", "b.example", "c.example"), tuple(categories))


def test_the_free_document_names_the_best_region_and_the_pro_ones_the_full_ranking():
    grid = grid_of({"a.example": constant("icmp", LEVELS),
                    "b.example": constant("tcp", {"lhr": 3.0, "fra": 4.0})})
    advice = compute_colocation_advice(grid, {"Crypto Exchanges": ("a.example", "b.example")})
    public, private = render_colocation_json(advice, HOUR0 + WINDOW_HOURS * 3600)
    free = json.loads(public["api/v1/colocation.json"])
    assert free["schema"] == "nettrace.colocation/1"
    assert free["window"] == {"start": "2026-11-18T11:00:00Z", "end": "2026-11-25T11:00:00Z",
                              "hours": 168}
    assert free["targets"]["a.example"]["best_region"] == "nrt"
    assert free["targets"]["b.example"] | {"summary": ""} == {
        "best_region": "lhr", "median_ms": 3.0, "probe": "tcp", "days": 7, "best_changes": 0,
        "best_held_days": 7, "summary": ""}
    assert "ranking" not in free["targets"]["a.example"]
    assert "sin" not in json.dumps(free["targets"]["a.example"])  # the runner-up is Pro
    full = json.loads(private["api/v1/colocation/a.example.json"])
    assert [r["region"] for r in full["ranking"]] == sorted(REGIONS, key=LEVELS.get)
    assert full["ranking"][1] == {"region": "sin", "rank": 2, "median_ms": 6.0, "hours": 168,
                                  "gap_ms": 4.5, "gap_ci_ms": [4.5, 4.5]}
    assert full["verdict"].startswith("Host in nrt: 1.5 ms. sin is 4.5 ms slower")
    pairs = json.loads(private["api/v1/colocation/pairs/crypto-exchanges.json"])
    assert (pairs["category"], pairs["slug"]) == ("Crypto Exchanges", "crypto-exchanges")
    assert pairs["pairs"] == [{"a": "a.example", "b": "b.example", "region": "lhr",
                               "worst_ms": 160.0, "a_ms": 160.0, "b_ms": 3.0}]
    every = json.loads(private["api/v1/colocation/pairs.json"])
    assert every["categories"] == [{k: pairs[k] for k in ("category", "slug", "pairs")}]


def test_the_where_to_host_page_shows_each_target_its_best_region_only():
    grid = grid_of({"a.example": constant("icmp", LEVELS), "quiet.example": {}})
    advice = compute_colocation_advice(grid, {"Venues": ("a.example", "quiet.example")})
    page = build_host_page(advice, {"a.example": "Alpha", "quiet.example": "Quiet"},
                           {"nrt": "Tokyo", "sin": "Singapore"},
                           {"Venues": ("a.example", "quiet.example")})
    assert page.window_text == "7 days to 2026-11-25 11:00 UTC"
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined)
    site = SimpleNamespace(stale_regions=(), regions=(), target_count=2,
                           generated_at="2026-11-18T16:00:00Z", generated_label="18 Nov 16:00")
    html = env.get_template("colocation.html.j2").render(site=site, root="../", nav="", colo=page)
    doc = html5lib.parse(html, namespaceHTMLElements=False)
    rows = [["".join(cell.itertext()).strip() for cell in tr] for tr in doc.iter("tr")][1:]
    assert rows[0][:3] == ["Alpha", "nrt Tokyo", "1.5 ms"]
    assert rows[1][:3] == ["Quiet", "–", "–"]
    assert "Singapore" not in html and "sin is" not in html  # the runner-up is Pro


def test_the_grid_from_the_weeks_real_rollups_holds_their_icmp_and_tcp_medians(tmp_path):
    fixture = make_db(tmp_path, rounds=12)
    hosts = tuple(t.host for t in fixture.catalog.targets) + ("absent.example",)
    regions = tuple(r.code for r in fixture.catalog.regions)
    end_hour = fixture.round_ts - fixture.round_ts % 3600
    conn = connect(fixture.path, readonly=True)
    week, _ = read_week_hourly(conn, end_hour - (WINDOW_HOURS - 1) * 3600, fixture.round_ts,
                               read_checkpoint(conn), None, None)
    grid = colocation_grid(week, hosts, regions, end_hour)
    rows = conn.execute("SELECT target, region, probe, hour_ts, median_ms FROM hourly "
                        "WHERE median_ms IS NOT NULL").fetchall()
    conn.close()
    expected = np.full(grid.median_ms.shape, np.nan)
    for target, region, probe, hour_ts, median in rows:
        hour = (hour_ts - grid.first_hour_ts) // 3600
        if probe in PROBES and 0 <= hour < WINDOW_HOURS:
            expected[hosts.index(target), PROBES.index(probe), regions.index(region), hour] = median
    assert grid.first_hour_ts == end_hour - (WINDOW_HOURS - 1) * 3600
    assert np.isfinite(expected).sum() >= 2 * 3 * 4 * 3  # icmp and tcp, 3 regions, 4 hosts, 3 h
    np.testing.assert_array_equal(grid.median_ms, expected)
    assert {probe for _, _, probe, _, _ in rows} > set(PROBES)  # tls and trace were left out
