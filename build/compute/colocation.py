"""Where to host: for each target, the 7 regions ranked by their 7-day median RTT, each region's
gap to the best with a 95 % confidence interval, how steady the best region was, a plain
verdict; and for every pair of venues in a category the region with the lowest worst-of-both RTT.

Input is one HourlyGrid of hourly medians (colocation_grid, from the week of rollup columns
the read stage carries). Everything is a pure
function of it: no clock, no I/O, and the bootstrap draws from fixed seeds, so the same rows
give the same bytes. 132 targets x 7 regions x 168 hours take ~0.3 s on a busy 2-core machine.

The interval is a percentile bootstrap of the difference of two medians, each region resampled
on its own (hours a region missed leave no hole to pair across regions): BOOTSTRAP_REPLICATES
resamples with replacement of the region's hourly medians. The median of a resample is the
sorted sample's value at the resample's middle ranks, and those ranks are drawn directly from
their exact distribution (_resample_ranks): two draws per replicate instead of n.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the read stage's record; importing it here would be circular
    from build.read.week import HourlyColumns

WINDOW_HOURS = 7 * 24
HOUR_S = 3600
DAY_HOURS = 24
PROBES = ("icmp", "tcp")  # icmp preferred; tcp where icmp is blocked or not probed
MIN_HOURS = 24  # hourly medians a region needs in the window to be ranked
MIN_DAY_HOURS = 6  # hourly medians a region needs in a day to count for that day's best
CI_LEVEL = 0.95
BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 20_260_412  # fixed: a build's intervals are a function of its rows only


@dataclass(frozen=True, slots=True, eq=False)
class HourlyGrid:
    """Hourly median RTTs (ms) of the window: median_ms[target, probe, region, hour], NaN where
    the hour has no rollup or no successful probe. Column j is hour first_hour_ts + 3600 j."""

    hosts: tuple[str, ...]
    probes: tuple[str, ...]
    regions: tuple[str, ...]  # catalog order: it breaks ties
    first_hour_ts: int  # unix s
    median_ms: np.ndarray  # float64, shape (hosts, probes, regions, hours)


@dataclass(frozen=True, slots=True)
class RegionRank:
    """One region's place for one target. gap_* are this region's median minus the best's
    (0 for the best itself), with the CI_LEVEL bootstrap interval."""

    region: str
    rank: int  # 1 = best
    median_ms: float  # median of the region's hourly medians over the window
    hours: int  # hourly medians it rests on
    gap_ms: float
    gap_low_ms: float
    gap_high_ms: float


@dataclass(frozen=True, slots=True)
class Colocation:
    """A target's colocation advice. ranking is best first and holds only regions with at
    least MIN_HOURS hourly medians; probe is None when no region has."""

    host: str
    probe: str | None
    ranking: tuple[RegionRank, ...]
    days: int  # days of the window (24 h blocks, ending at its last hour) with a best region
    best_changes: int  # times the day's best region differed from the day before's
    best_held_days: int  # latest days in a row whose best was the window's best region
    latest_best: str | None  # the best region of the latest day with one
    verdict: str  # the full advice, with the runner-up and its interval (Pro)
    summary: str  # the best region only (free)

    @property
    def best(self) -> RegionRank | None:
        return self.ranking[0] if self.ranking else None


@dataclass(frozen=True, slots=True)
class VenuePair:
    """Two venues of one category (catalog order) and the region whose worse RTT of the two is
    lowest. region and the figures are None when no region is ranked for both."""

    host_a: str
    host_b: str
    region: str | None
    worst_ms: float | None  # max(a_ms, b_ms) from region
    a_ms: float | None  # region's 7-day median to host_a (each host's own probe)
    b_ms: float | None


@dataclass(frozen=True, slots=True)
class CategoryPairs:
    category: str
    pairs: tuple[VenuePair, ...]  # every pair of the category's hosts with advice, catalog order


@dataclass(frozen=True, slots=True)
class ColocationAdvice:
    """What the renderers need: the window's hours, each target's advice, the venue pairs."""

    first_hour_ts: int  # unix s, the window's first hour
    last_hour_ts: int  # unix s, the start of its last hour
    targets: tuple[Colocation, ...]  # grid (catalog) order
    pairs: tuple[CategoryPairs, ...]  # category order


def colocation_grid(cols: HourlyColumns, hosts: tuple[str, ...], regions: tuple[str, ...],
                    end_hour_ts: int, hours: int = WINDOW_HOURS) -> HourlyGrid:
    """The hourly median RTTs of hosts x PROBES x regions over the `hours` hours ending with
    the one starting at end_hour_ts (unix s, a multiple of 3600), from the week's rollup
    columns the read stage carries; NaN where an hour has no rollup or no median."""
    first = end_hour_ts - (hours - 1) * HOUR_S
    grid = np.full((len(hosts), len(PROBES), len(regions), hours), np.nan)
    host_of, probe_of, region_of = ({v: i for i, v in enumerate(vs)}
                                    for vs in (hosts, PROBES, regions))
    cell = np.array([(host_of.get(t, -1), probe_of.get(p, -1), region_of.get(r, -1))
                     for t, r, p in cols.keys] or [(-1, -1, -1)], dtype=np.int64)
    where = cell[cols.key_index] if cols.key_index.size else np.empty((0, 3), dtype=np.int64)
    hour = (cols.hour_ts - first) // HOUR_S
    median = cols.values["median_ms"]
    keep = (where >= 0).all(axis=1) & (hour >= 0) & (hour < hours) & np.isfinite(median)
    grid[where[keep, 0], where[keep, 1], where[keep, 2], hour[keep]] = median[keep]
    return HourlyGrid(tuple(hosts), PROBES, tuple(regions), first, grid)


def compute_colocation_advice(grid: HourlyGrid,
                              categories: dict[str, tuple[str, ...]]) -> ColocationAdvice:
    """compute_colocation and compute_pairs of one grid; categories: name -> hosts."""
    targets = compute_colocation(grid)
    last = grid.first_hour_ts + (grid.median_ms.shape[-1] - 1) * HOUR_S
    return ColocationAdvice(grid.first_hour_ts, last, targets,
                            compute_pairs(targets, grid.regions, categories))


def compute_colocation(grid: HourlyGrid) -> tuple[Colocation, ...]:
    """One Colocation per grid host, in grid order. Raises ValueError for a grid without the
    probes it needs or whose hours are not whole days."""
    hours = grid.median_ms.shape[-1]
    if hours % DAY_HOURS or not set(PROBES) <= set(grid.probes):
        raise ValueError(f"grid needs whole days of hours and probes {PROBES}")
    medians, counts = masked_median(grid.median_ms)
    days = grid.median_ms.reshape(grid.median_ms.shape[:-1] + (hours // DAY_HOURS, DAY_HOURS))
    day_medians, day_counts = masked_median(days)
    day_medians[day_counts < MIN_DAY_HOURS] = np.nan
    out = []
    for t, host in enumerate(grid.hosts):
        p = _choose_probe(counts[t], grid.probes)
        if p is None:
            out.append(_no_data(host))
            continue
        series = _Series(grid.probes[p], grid.median_ms[t, p], medians[t, p],
                         counts[t, p] >= MIN_HOURS, day_medians[t, p])
        out.append(_advice(host, grid.regions, series))
    return tuple(out)


def masked_median(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median, count) of the finite values along the last axis, NaN where there are none;
    np.nanmedian's result without its per-slice Python loop and all-NaN warnings."""
    finite = np.isfinite(values)
    n = finite.sum(axis=-1)
    ordered = np.sort(np.where(finite, values, np.inf), axis=-1)
    lo = np.maximum((n - 1) // 2, 0)[..., None]
    hi = np.maximum(n // 2, 0)[..., None]
    mid = (np.take_along_axis(ordered, lo, -1) + np.take_along_axis(ordered, hi, -1))[..., 0] / 2
    return np.where(n > 0, mid, np.nan), n


def _choose_probe(counts: np.ndarray, probes: tuple[str, ...]) -> int | None:
    """icmp when it ranks every region tcp ranks (comparing regions needs one protocol);
    else tcp; None when neither ranks any region. counts: (probes, regions)."""
    icmp, tcp = probes.index("icmp"), probes.index("tcp")
    has_icmp, has_tcp = counts[icmp] >= MIN_HOURS, counts[tcp] >= MIN_HOURS
    if has_icmp.any() and not (has_tcp & ~has_icmp).any():
        return icmp
    return tcp if has_tcp.any() else None


@dataclass(frozen=True, slots=True, eq=False)
class _Series:
    """One target's chosen probe: arrays over regions (and hours or days)."""

    probe: str
    hourly: np.ndarray  # (regions, hours) ms
    medians: np.ndarray  # (regions,) ms over the window
    ranked: np.ndarray  # (regions,) bool: enough hours to rank
    day_medians: np.ndarray  # (regions, days) ms, NaN for a day with too few hours


def _advice(host: str, regions: tuple[str, ...], s: _Series) -> Colocation:
    order = [r for r in np.lexsort((np.arange(len(s.medians)), s.medians)) if s.ranked[r]]
    best = order[0]
    draws = np.stack([_bootstrap_medians(s.hourly[r], r) for r in order])
    tail = (1 - CI_LEVEL) / 2
    lows, highs = np.quantile(draws - draws[0], [tail, 1 - tail], axis=1)
    hours = np.isfinite(s.hourly).sum(axis=1)
    ranking = tuple(
        RegionRank(regions[r], rank, float(s.medians[r]), int(hours[r]),
                   float(s.medians[r] - s.medians[best]), float(low), float(high))
        for rank, (r, low, high) in enumerate(zip(order, lows, highs), 1))
    day_best = _day_best(s.day_medians, s.ranked)
    held = len(day_best) - _last_other(day_best, best)
    advice = Colocation(host, s.probe, ranking, len(day_best),
                        int(np.count_nonzero(day_best[1:] != day_best[:-1])), held,
                        regions[day_best[-1]] if len(day_best) else None, "", "")
    return _with_verdict(advice)


def _no_data(host: str) -> Colocation:
    return _with_verdict(Colocation(host, None, (), 0, 0, 0, None, "", ""))


def _with_verdict(c: Colocation) -> Colocation:
    best = c.best
    if best is None:
        text = (f"Not enough data yet: no region has {MIN_HOURS} hourly medians in the last "
                f"{WINDOW_HOURS // DAY_HOURS} days.")
        return replace(c, verdict=text, summary=text)
    head = f"Host in {best.region}: {format_ms(best.median_ms)} ms."
    steady = _steadiness(c)
    if len(c.ranking) == 1:
        return replace(c, verdict=f"{head} No other region has enough data to compare. {steady}",
                       summary=f"{head} {steady}")
    second = c.ranking[1]
    joiner = "–" if second.gap_low_ms >= 0 else " to "
    low, high = format_ms(second.gap_low_ms), format_ms(second.gap_high_ms)
    gap = (f"{second.region} is {format_ms(second.gap_ms)} ms slower "
           f"({CI_LEVEL * 100:.0f} % CI {low}{joiner}{high}).")
    return replace(c, verdict=f"{head} {gap} {steady}", summary=f"{head} {steady}")


def _steadiness(c: Colocation) -> str:
    if c.days == 0:
        return f"No day yet has {MIN_DAY_HOURS} hourly medians to tell how steady it is."
    window = _count(c.days, "day")
    if c.best_held_days == c.days:
        return f"The best region has held for {window}."
    changes = f"{_count(c.best_changes, 'change')} in {window}"
    if c.best_held_days:
        return f"The best region has held for {_count(c.best_held_days, 'day')} ({changes})."
    return f"{c.latest_best} was best on the latest day ({changes})."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def format_ms(value: float) -> str:
    """1.9, 0.42: one decimal from 1 ms up, two below (a sub-ms gap would read 0.0)."""
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"


def compute_pairs(colocations: tuple[Colocation, ...], regions: tuple[str, ...],
                  categories: dict[str, tuple[str, ...]]) -> tuple[CategoryPairs, ...]:
    """For each category (name -> hosts, catalog order) every pair of its hosts with advice,
    a before b in catalog order, with the region minimising max(RTT to a, RTT to b) over the
    regions ranked for both; a tie goes to the earlier of regions (catalog order)."""
    by_host = {c.host: c for c in colocations}
    out = []
    for name, hosts in categories.items():
        known = [h for h in hosts if h in by_host]
        rtt = np.full((len(known), len(regions)), np.inf)
        for i, host in enumerate(known):
            for r in by_host[host].ranking:
                rtt[i, regions.index(r.region)] = r.median_ms
        worst = np.maximum(rtt[:, None, :], rtt[None, :, :])  # (a, b, region)
        choice = np.argmin(worst, axis=-1)
        pairs = []
        for a, b in zip(*np.triu_indices(len(known), k=1)):
            r = int(choice[a, b])
            if np.isfinite(worst[a, b, r]):
                pairs.append(VenuePair(known[a], known[b], regions[r], float(worst[a, b, r]),
                                       float(rtt[a, r]), float(rtt[b, r])))
            else:
                pairs.append(VenuePair(known[a], known[b], None, None, None, None))
        out.append(CategoryPairs(name, tuple(pairs)))
    return tuple(out)


def _day_best(day_medians: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """Index of each day's best ranked region (ties to catalog order); days without one left
    out. day_medians: (regions, days)."""
    values = np.where(ranked[:, None] & np.isfinite(day_medians), day_medians, np.inf)
    has = np.isfinite(values).any(axis=0)
    return np.argmin(values, axis=0)[has]


def _last_other(day_best: np.ndarray, best: int) -> int:
    """How many days precede the trailing run of days whose best is best."""
    others = np.flatnonzero(day_best != best)
    return int(others[-1]) + 1 if len(others) else 0


@lru_cache(maxsize=2048)  # pure in (n, stream); complete weeks make most n 168
def _resample_ranks(n: int, stream: int) -> np.ndarray:
    """(replicates, 2) 0-based ranks into a sorted sample of size n: the two middle order
    statistics of each resample with replacement (equal when n is odd). Drawn directly: a
    resample is floor(n U) for n uniforms U, so its k-th smallest is floor(n U(k)) with
    U(k) ~ Beta(k, n + 1 - k), and U(k+1) is U(k) plus (1 - U(k)) times the smallest of the
    other n - k uniforms, ~ Beta(1, n - k). stream keeps regions independent."""
    rng = np.random.default_rng([BOOTSTRAP_SEED, n, stream])
    k = (n - 1) // 2 + 1  # 1-based: the lower middle
    low = rng.beta(k, n + 1 - k, BOOTSTRAP_REPLICATES)
    high = low + (1 - low) * rng.beta(1, n - k, BOOTSTRAP_REPLICATES) if n % 2 == 0 else low
    ranks = np.minimum((np.stack([low, high], axis=1) * n).astype(np.int64), n - 1)
    ranks.flags.writeable = False  # shared by the cache
    return ranks


def _bootstrap_medians(hourly: np.ndarray, stream: int) -> np.ndarray:
    """BOOTSTRAP_REPLICATES medians of resamples (with replacement) of the finite values."""
    sample = np.sort(hourly[np.isfinite(hourly)])
    ranks = _resample_ranks(len(sample), stream)
    return (sample[ranks[:, 0]] + sample[ranks[:, 1]]) / 2
