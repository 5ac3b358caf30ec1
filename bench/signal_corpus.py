"""SYNTHETIC series for the signal benchmark and tests: stationary noise of seven shapes, and
labelled changes injected into it. Every figure comes from a seeded generator; nothing was
measured.

Series come in pairs, icmp (20 samples a round) and tcp (3), of one target seen from one
region, with independent noise of the same shape (a network change moves both). Targets are
grouped six to a category (divergence peers). Noise sigma is the standard deviation of the
round-to-round noise (around the cycle for `daily_weekly`; without the outliers for
`outliers`); level 5-200 ms, sigma 1-5 % of it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from build.compute.panel import HOUR_S, PanelHistory, compute_season
from collect.records import ROUND_S

SHAPES = ("gaussian", "right_tail", "student_t3", "two_levels", "daily_weekly", "lost_rounds",
          "outliers")
PROBES = ("icmp", "tcp")
SAMPLES = {"icmp": 20, "tcp": 3}  # the collector's defaults
PEERS = 6  # targets per category
DAY_S = 86400
START_TS = 1_790_000_000 // (7 * DAY_S) * (7 * DAY_S)  # a Thursday 00:00 UTC
ROUTES = ("10.0.{v}.1", "10.1.{v}.1", "172.16.{v}.1")  # hop addresses of route variant v


@dataclass(frozen=True, slots=True)
class Corpus:
    """Rounds of n_targets targets from one region: row 2i is target i's icmp, 2i+1 its tcp."""

    round_ts: np.ndarray  # [n_rounds]
    rtt_ms: np.ndarray  # [2 n_targets, n_rounds]
    loss_ratio: np.ndarray
    sigma_ms: np.ndarray  # [2 n_targets]
    route_code: np.ndarray  # [n_targets, n_rounds] route variant of each round


def make_noise(shape: str, n_targets: int, n_rounds: int, seed: int) -> Corpus:
    """Stationary noise of one shape (no event at all)."""
    rng = np.random.default_rng(seed)
    n = 2 * n_targets
    ts = START_TS + ROUND_S * np.arange(n_rounds, dtype=np.int64)
    level = np.repeat(np.exp(rng.uniform(np.log(5), np.log(200), n_targets)), 2)[:, None]
    sigma = level * rng.uniform(0.01, 0.05, (n, 1))
    shape_of = _SHAPES[shape]
    rtt, route = shape_of(rng, level, sigma, ts)
    loss = np.zeros_like(rtt)
    if shape == "lost_rounds":
        lost = rng.random(rtt.shape) < rng.uniform(0.01, 0.02, (n, 1))
        rtt[lost], loss[lost] = np.nan, 1.0
    if route is None:
        route = np.zeros((n_targets, n_rounds), dtype=np.int64)
    return Corpus(ts, np.maximum(rtt, 0.05), loss, sigma[:, 0], route)


def _gaussian(rng, level, sigma, ts):
    return level + sigma * rng.standard_normal((level.size, ts.size)), None


def _right_tail(rng, level, sigma, ts):
    """Half the series lognormal (shape 0.5-1), half exponential, over the level as a floor."""
    n = level.size
    s = rng.uniform(0.5, 1.0, (n, 1))
    lognormal = np.exp(s * rng.standard_normal((n, ts.size)))
    lognormal /= np.sqrt((np.exp(s * s) - 1) * np.exp(s * s))  # unit standard deviation
    tail = np.where(np.arange(n)[:, None] % 4 < 2, lognormal, rng.exponential(1.0, (n, ts.size)))
    return level + sigma * tail, None


def _student_t3(rng, level, sigma, ts):
    return level + sigma / np.sqrt(3.0) * rng.standard_t(3, (level.size, ts.size)), None


def _two_levels(rng, level, sigma, ts):
    """ECMP flapping: each round takes the upper path (2-5 base sigmas up, its own trace
    fingerprint) with probability 0.2-0.5, the same draw for a target's two probes."""
    n = level.size
    p = np.repeat(rng.uniform(0.2, 0.5, n // 2), 2)[:, None]
    gap = np.repeat(rng.uniform(2.0, 5.0, n // 2), 2)[:, None]
    upper = rng.random((n // 2, ts.size)) < p[::2]
    base = sigma / np.sqrt(1.0 + gap * gap * p * (1 - p))
    rtt = level + base * (gap * np.repeat(upper, 2, axis=0) + rng.standard_normal((n, ts.size)))
    return rtt, upper.astype(np.int64)


def _daily_weekly(rng, level, sigma, ts):
    """A daily swing of 3-10 sigma and 2-6 sigma lower at weekends, plus Gaussian noise."""
    n = level.size
    daily = np.repeat(rng.uniform(3.0, 10.0, n // 2), 2)[:, None] * sigma
    weekend = np.repeat(rng.uniform(2.0, 6.0, n // 2), 2)[:, None] * sigma
    phase = np.repeat(rng.uniform(0, 2 * np.pi, n // 2), 2)[:, None]
    day = 2 * np.pi * (ts % DAY_S) / DAY_S
    is_weekend = (((ts // DAY_S) + 3) % 7 >= 5)  # Monday 0: 1970-01-01 was a Thursday
    cycle = daily * np.sin(day[None, :] + phase) - weekend * is_weekend[None, :]
    return level + cycle + sigma * rng.standard_normal((n, ts.size)), None


def _outliers(rng, level, sigma, ts):
    """1 % of rounds carry a retransmission: +50 % to +500 % of the level."""
    rtt = level + sigma * rng.standard_normal((level.size, ts.size))
    hit = rng.random(rtt.shape) < 0.01
    return np.where(hit, rtt + level * rng.uniform(0.5, 5.0, rtt.shape), rtt), None


_SHAPES = {"gaussian": _gaussian, "right_tail": _right_tail, "student_t3": _student_t3,
           "two_levels": _two_levels, "daily_weekly": _daily_weekly,
           "lost_rounds": _gaussian, "outliers": _outliers}


def lost_samples(rng: np.random.Generator, loss_ratio: float, samples: int,
                 shape: tuple[int, ...]) -> np.ndarray:
    """Per-round loss ratios of `samples` packets each lost with probability loss_ratio."""
    return rng.binomial(samples, loss_ratio, shape) / samples


def to_history(c: Corpus, region: str = "fra") -> PanelHistory:
    """The corpus as the detector's PanelHistory, hourly rollups (the median of each hour's
    rounds, the mean of their loss) computed from the rounds themselves."""
    n_targets = c.route_code.shape[0]
    targets = [f"t{i:05d}.example" for i in range(n_targets)]
    keys = tuple((t, region, p) for t in targets for p in PROBES)
    per_hour = HOUR_S // ROUND_S
    hours = c.round_ts[::per_hour]  # the corpus starts on an hour
    pad = ((0, 0), (0, -c.round_ts.size % per_hour))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # hours of lost rounds only
        hourly_ms = np.nanmedian(np.pad(c.rtt_ms, pad, constant_values=np.nan)
                                 .reshape(c.rtt_ms.shape[0], -1, per_hour), axis=2)
        hourly_loss = np.nanmean(np.pad(c.loss_ratio, pad, constant_values=np.nan)
                                 .reshape(c.rtt_ms.shape[0], -1, per_hour), axis=2)
    codes, hops = _routes(n_targets)
    route_code = np.where(c.route_code >= 0, c.route_code, -1)
    return PanelHistory(
        c.round_ts, keys, np.array([SAMPLES[k[2]] for k in keys], dtype=np.int64),
        c.rtt_ms, c.loss_ratio, compute_season(c.round_ts, hours, hourly_ms),
        compute_season(c.round_ts, hours, hourly_loss), tuple((t, region) for t in targets),
        route_code, codes, hops, {t: t.split(".")[0].upper() for t in targets},
        {t: f"Category {i // PEERS}" for i, t in enumerate(targets)})


def _routes(n_targets: int) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Fingerprints and hops of the route variants (shared by every target: codes 0..2)."""
    fingerprints = tuple(f"route-{v}" for v in range(len(ROUTES)))
    hops = tuple(("192.0.2.1", "192.0.2.9", ROUTES[v].format(v=v), "203.0.113.7")
                 for v in range(len(ROUTES)))
    return fingerprints, hops


@dataclass(frozen=True, slots=True)
class Label:
    target: int  # index: series 2 target (icmp) and 2 target + 1 (tcp)
    probe: str | None  # None: the target's path (both probes, or its trace)
    onset: int  # round index of the first changed round
    kind: str  # shift | route | loss | spike


def inject_labelled(c: Corpus, first: int, seed: int, mean_gap_days: float = 3.0) -> list[Label]:
    """Changes injected in place into rounds first.. of c, one every mean_gap_days per target
    on average (exponential gaps after the previous change ended): level shifts of 3-10
    sigma (half for 2-12 h, half for 1-3 days, whose return is a change of its own), the
    same with a new route, loss of 5-20 % of icmp samples for 1-6 h, one-round spikes of
    10-50 sigma. Returns the labels."""
    rng = np.random.default_rng(seed)
    labels: list[Label] = []
    n_rounds = c.round_ts.size
    gap = mean_gap_days * DAY_S / ROUND_S
    for target in range(c.route_code.shape[0]):
        at = first + int(rng.exponential(gap))
        while at < n_rounds - 8:
            kind = str(rng.choice(["shift", "route", "loss", "spike"], p=[0.5, 0.15, 0.2, 0.15]))
            end = _inject(c, rng, target, kind, at, labels)
            at = end + int(rng.exponential(gap))
    return labels


def _inject(c: Corpus, rng: np.random.Generator, target: int, kind: str, at: int,
            labels: list[Label]) -> int:
    rows = slice(2 * target, 2 * target + 2)
    sigma = c.sigma_ms[rows, None]
    if kind == "spike":
        c.rtt_ms[rows, at] += rng.uniform(10, 50) * sigma[:, 0]
        labels.append(Label(target, None, at, kind))
        return at + 1
    if kind == "loss":
        end = min(at + int(rng.integers(4, 25)), c.round_ts.size)
        lost = lost_samples(rng, rng.uniform(0.05, 0.2), 20, (end - at,))
        c.loss_ratio[2 * target, at:end] = np.maximum(c.loss_ratio[2 * target, at:end], lost)
        labels.append(Label(target, "icmp", at, kind))
        return end
    long = rng.random() < 0.5
    end = at + int(rng.integers(96, 289) if long else rng.integers(8, 49))
    c.rtt_ms[rows, at:end] += rng.choice([-1, 1]) * rng.uniform(3, 10) * sigma
    if kind == "route":
        c.route_code[target, at:end] = 2
        labels.append(Label(target, None, at, kind))
    else:
        labels += [Label(target, p, at, kind) for p in PROBES]
    if long and end < c.round_ts.size:
        labels += [Label(target, p, end, "shift") for p in PROBES]
    return end
