"""The event detector's input: a Panel of numpy arrays on the 15-minute round grid, oldest
first, ending at the round being judged. Pure: no SQLite, no clock.

A Panel holds at most WINDOW_ROUNDS raw rounds (the 24 h the build keeps); longer memory comes
only from the hourly rollups, as a same-hour-of-week baseline (`season_*`): the median of the
hourly rollups at the same hour 1..SEASON_WEEKS weeks earlier (NaN with fewer than
MIN_SEASON_WEEKS of them), moved along the hour by the slope its neighbours agree on. Those
hours are at least six days old, so the baseline is causal.

PanelHistory is a longer record on the same grid (the backtest reads one from the database);
panel_at(history, round_ts) cuts from it exactly the Panel a build at round_ts would see.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from collect.records import ROUND_S

WINDOW_ROUNDS = 96  # 24 h of raw rounds
HOUR_S = 3600
WEEK_S = 7 * 86400
SEASON_WEEKS = 4
MIN_SEASON_WEEKS = 2
NO_ROUTE = -1  # route_code of a round without a trace fingerprint
HOUR_MIDDLE_S = 1350  # an hourly rollup's rounds start 0, 15, 30 and 45 minutes in

Key = tuple[str, str, str]  # (target, region, probe)
Pair = tuple[str, str]  # (target, region)


@dataclass(frozen=True, slots=True)
class Panel:
    """What the detector sees at one round (the last column)."""

    round_ts: np.ndarray  # int64 [n_rounds], consecutive rounds, the last one judged
    keys: tuple[Key, ...]  # one RTT/loss series per row
    samples: np.ndarray  # int64 [n_series], samples a round sends (length of samples_ms)
    rtt_ms: np.ndarray  # [n_series, n_rounds], NaN: a lost round or no result
    loss_ratio: np.ndarray  # [n_series, n_rounds], NaN: no result
    season_ms: np.ndarray  # [n_series, n_rounds] same-hour-of-week median, NaN: too few weeks
    season_loss_ratio: np.ndarray  # [n_series, n_rounds] likewise for loss
    route_keys: tuple[Pair, ...]  # one trace series per row
    route_code: np.ndarray  # int64 [n_routes, n_rounds], index into fingerprints, NO_ROUTE
    fingerprints: tuple[str, ...]
    hops: tuple[tuple[str, ...], ...]  # responding hop addresses per fingerprint, '*' silent
    names: Mapping[str, str]  # target -> display name
    categories: Mapping[str, str]  # target -> catalog category (divergence peers)


@dataclass(frozen=True, slots=True)
class PanelHistory:
    """Rounds and hours of a whole span, same rows as the Panels cut from it."""

    round_ts: np.ndarray  # int64 [n_rounds], every round of the span
    keys: tuple[Key, ...]
    samples: np.ndarray
    rtt_ms: np.ndarray  # [n_series, n_rounds]
    loss_ratio: np.ndarray
    season_ms: np.ndarray  # [n_series, n_rounds], from compute_season
    season_loss_ratio: np.ndarray
    route_keys: tuple[Pair, ...]
    route_code: np.ndarray  # [n_routes, n_rounds]
    fingerprints: tuple[str, ...]
    hops: tuple[tuple[str, ...], ...]
    names: Mapping[str, str]
    categories: Mapping[str, str]


def round_grid(first_ts: int, last_ts: int) -> np.ndarray:
    """Every round from first_ts to last_ts (both on the grid), int64."""
    return np.arange(first_ts, last_ts + 1, ROUND_S, dtype=np.int64)


def season_hours(round_ts: np.ndarray) -> np.ndarray:
    """The hourly rollups the season of these rounds needs, sorted unique hour_ts."""
    hours = np.unique(round_ts // HOUR_S * HOUR_S)
    hours = np.unique(np.concatenate([hours - HOUR_S, hours, hours + HOUR_S]))
    back = WEEK_S * np.arange(1, SEASON_WEEKS + 1)
    return np.unique((hours[:, None] - back[None, :]).ravel())


def compute_season(round_ts: np.ndarray, hour_ts: np.ndarray,
                   hourly: np.ndarray) -> np.ndarray:
    """[n_series, n_rounds] the same-hour-of-week baseline of each round: the median of
    hourly[:, h - k weeks] (k = 1..SEASON_WEEKS, NaN with fewer than MIN_SEASON_WEEKS values)
    at the round's hour h, moved along the hour by the minmod of its slopes to the neighbouring
    hours (a daily swing moves within an hour; a step between two hours stays a step). hour_ts:
    sorted hours of hourly's columns (missing hours count as NaN)."""
    if hour_ts.size == 0 or round_ts.size == 0:
        return np.full((hourly.shape[0], round_ts.size), np.nan)
    hours, at = np.unique(round_ts // HOUR_S * HOUR_S, return_inverse=True)  # once per hour
    around = np.unique(np.concatenate([hours - HOUR_S, hours, hours + HOUR_S]))
    medians = _weekly_median(hour_ts, hourly, around)  # each hour once, shared by neighbours
    here = medians[:, np.searchsorted(around, hours)]
    before = here - medians[:, np.searchsorted(around, hours - HOUR_S)]
    after = medians[:, np.searchsorted(around, hours + HOUR_S)] - here
    slope = np.where(before * after > 0, np.sign(after) * np.minimum(np.abs(before),
                                                                      np.abs(after)), 0.0)
    offset = ((round_ts - hours[at]) - HOUR_MIDDLE_S) / HOUR_S  # from the hour's middle, hours
    return here[:, at] + np.nan_to_num(slope)[:, at] * offset[None, :]


def _weekly_median(hour_ts: np.ndarray, hourly: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """np.nanmedian over the weeks, as (low + high) / 2 of the sorted values (its formula)."""
    weeks = np.full((hourly.shape[0], hours.size, SEASON_WEEKS), np.nan)
    for k in range(1, SEASON_WEEKS + 1):
        want = hours - k * WEEK_S
        at = np.clip(np.searchsorted(hour_ts, want), 0, hour_ts.size - 1)
        found = hour_ts[at] == want
        weeks[:, found, k - 1] = hourly[:, at[found]]
    enough = np.isfinite(weeks).sum(axis=2) >= MIN_SEASON_WEEKS
    weeks.sort(axis=2)  # NaN last
    n = (~np.isnan(weeks)).sum(axis=2, keepdims=True)
    low = np.take_along_axis(weeks, np.maximum(n - 1, 0) // 2, axis=2)[..., 0]
    high = np.take_along_axis(weeks, n // 2, axis=2)[..., 0]
    return np.where(enough, (low + high) / 2, np.nan)


def panel_at(history: PanelHistory, round_ts: int) -> Panel:
    """The Panel a build at round_ts sees: the last WINDOW_ROUNDS rounds up to round_ts.
    Raises ValueError when round_ts is not a round of the history."""
    end = int(np.searchsorted(history.round_ts, round_ts))
    if end >= history.round_ts.size or int(history.round_ts[end]) != round_ts:
        raise ValueError(f"round {round_ts} is not in the history")
    cols = slice(max(0, end + 1 - WINDOW_ROUNDS), end + 1)
    return Panel(history.round_ts[cols], history.keys, history.samples,
                 history.rtt_ms[:, cols], history.loss_ratio[:, cols],
                 history.season_ms[:, cols], history.season_loss_ratio[:, cols],
                 history.route_keys, history.route_code[:, cols], history.fingerprints,
                 history.hops, history.names, history.categories)


def concat_histories(parts: list[PanelHistory]) -> PanelHistory:
    """Consecutive spans as one history, as one compute_panel_history over the whole span
    would make it: series and pairs in sorted order, fingerprints sorted, NaN / NO_ROUTE where
    a part lacks a row. Raises ValueError on an empty list."""
    if not parts:
        raise ValueError("no history to join")
    keys = tuple(sorted({k for p in parts for k in p.keys}))
    pairs = tuple(sorted({k for p in parts for k in p.route_keys}))
    fingerprints = tuple(sorted({f for p in parts for f in p.fingerprints}))
    hops = dict(h for p in parts for h in zip(p.fingerprints, p.hops))
    code = {f: i for i, f in enumerate(fingerprints)}
    grid = np.concatenate([p.round_ts for p in parts])
    series = {k: i for i, k in enumerate(keys)}
    routes = {k: i for i, k in enumerate(pairs)}
    out = {name: np.full((len(keys), grid.size), np.nan)
           for name in ("rtt_ms", "loss_ratio", "season_ms", "season_loss_ratio")}
    route_code = np.full((len(pairs), grid.size), NO_ROUTE, dtype=np.int64)
    samples = np.zeros(len(keys), dtype=np.int64)
    col = 0
    for p in parts:
        cols = slice(col, col + p.round_ts.size)
        rows = np.array([series[k] for k in p.keys], dtype=np.int64)
        for name, m in out.items():
            m[rows, cols] = getattr(p, name)
        np.maximum.at(samples, rows, p.samples)
        remap = np.array([code[f] for f in p.fingerprints] + [NO_ROUTE], dtype=np.int64)
        route_rows = np.array([routes[k] for k in p.route_keys], dtype=np.int64)
        route_code[route_rows, cols] = remap[p.route_code]  # NO_ROUTE (-1) maps to the last
        col += p.round_ts.size
    return PanelHistory(grid, keys, samples, out["rtt_ms"], out["loss_ratio"], out["season_ms"],
                        out["season_loss_ratio"], pairs, route_code, fingerprints,
                        tuple(hops[f] for f in fingerprints), parts[0].names,
                        parts[0].categories)
