"""The event detector's PanelHistory (build/compute/panel.py) from stored results as columns.
Pure. The build passes its 24 h raw window (build/read/window.py); `nettrace signals backtest`
passes the same columns read over its whole span (build/read/detector.py), so a replay sees
exactly what each build saw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.panel import NO_ROUTE, PanelHistory, compute_season, round_grid
from build.compute.series import Key
from collect.records import ROUND_S
from collect.targets import Catalog

DETECTED_PROBES = ("icmp", "tcp", "tls", "http", "dns")  # trace is judged by its route


@dataclass(frozen=True, slots=True)
class ResultColumns:
    """Stored results, one row each: keys[key_index[i]] at round_ts[i]."""

    keys: tuple[Key, ...]
    key_index: np.ndarray  # int64
    round_ts: np.ndarray  # int64
    rtt_ms: np.ndarray  # float64, NaN: nothing came back
    loss_ratio: np.ndarray  # float64
    samples: np.ndarray  # int64, samples the probe sent that round
    fingerprint: dict[int, str]  # row -> trace fingerprint, for trace rows that have one


@dataclass(frozen=True, slots=True)
class HourValues:
    """Hourly rollups (median_ms, loss) of the hours the season baseline needs."""

    keys: tuple[Key, ...]
    key_index: np.ndarray  # int64
    hour_ts: np.ndarray  # int64
    median_ms: np.ndarray  # float64, NaN: NULL
    loss_ratio: np.ndarray  # float64

    @classmethod
    def empty(cls) -> HourValues:
        return cls((), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0),
                   np.zeros(0))

    def take(self, mask: np.ndarray) -> HourValues:
        """The rollups where mask holds."""
        return HourValues(self.keys, self.key_index[mask], self.hour_ts[mask],
                          self.median_ms[mask], self.loss_ratio[mask])


def compute_panel_history(rows: ResultColumns, hours: HourValues,
                          hops: dict[str, tuple[str, ...]], catalog: Catalog, first_ts: int,
                          last_ts: int) -> PanelHistory:
    """Every catalog (target, region, probe) with a detected probe among rows, on the round
    grid first_ts..last_ts; hops: responding hop addresses ('*' silent) per fingerprint."""
    grid = round_grid(first_ts, last_ts)
    hosts = {t.host for t in catalog.targets}
    codes = {r.code for r in catalog.regions}
    col = (rows.round_ts - first_ts) // ROUND_S
    on_grid = (rows.round_ts >= first_ts) & (rows.round_ts <= last_ts) & (
        (rows.round_ts - first_ts) % ROUND_S == 0)
    wanted = [k for k in sorted(set(rows.keys)) if k[0] in hosts and k[1] in codes]
    series = [k for k in wanted if k[2] in DETECTED_PROBES]
    row_of = _row_index(rows.keys, series)
    r = row_of[rows.key_index] if rows.key_index.size else rows.key_index
    take = on_grid & (r >= 0)
    rtt = np.full((len(series), grid.size), np.nan)
    loss = np.full((len(series), grid.size), np.nan)
    rtt[r[take], col[take]] = rows.rtt_ms[take]
    loss[r[take], col[take]] = rows.loss_ratio[take]
    samples = np.zeros(len(series), dtype=np.int64)
    np.maximum.at(samples, r[take], rows.samples[take])
    route_keys, route_code, fingerprints = _routes(rows, wanted, col, on_grid, grid.size)
    season_ms, season_loss = _season(hours, series, grid)
    return PanelHistory(
        grid, tuple(series), samples, rtt, loss, season_ms, season_loss, route_keys, route_code,
        fingerprints, tuple(hops.get(f, ()) for f in fingerprints),
        {t.host: t.name for t in catalog.targets},
        {t.host: t.category for t in catalog.targets})


def _row_index(keys: tuple[Key, ...], order: list) -> np.ndarray:
    """For each of keys, its position in order, -1 when absent."""
    position = {k: i for i, k in enumerate(order)}
    return np.array([position.get(k, -1) for k in keys] or [-1], dtype=np.int64)


def _routes(rows: ResultColumns, wanted: list[Key], col: np.ndarray, on_grid: np.ndarray,
            n_rounds: int) -> tuple[tuple, np.ndarray, tuple[str, ...]]:
    pairs = [(k[0], k[1]) for k in wanted if k[2] == "trace"]
    row_of = _row_index(rows.keys, [(*p, "trace") for p in pairs])
    fingerprints = tuple(sorted(set(rows.fingerprint.values())))
    code_of = {f: i for i, f in enumerate(fingerprints)}
    codes = np.full((len(pairs), n_rounds), NO_ROUTE, dtype=np.int64)
    at = np.fromiter(rows.fingerprint, dtype=np.int64, count=len(rows.fingerprint))
    code = np.fromiter(map(code_of.__getitem__, rows.fingerprint.values()), dtype=np.int64,
                       count=at.size)
    r = row_of[rows.key_index[at]] if at.size else at
    take = (r >= 0) & on_grid[at]
    codes[r[take], col[at[take]]] = code[take]
    return tuple(pairs), codes, fingerprints


def _season(hours: HourValues, series: list[Key],
            grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hour_ts = np.unique(hours.hour_ts)
    r = _row_index(hours.keys, series)[hours.key_index] if hours.key_index.size else (
        hours.key_index)
    c = np.searchsorted(hour_ts, hours.hour_ts)
    take = r >= 0
    median = np.full((len(series), hour_ts.size), np.nan)
    loss = np.full((len(series), hour_ts.size), np.nan)
    median[r[take], c[take]] = hours.median_ms[take]
    loss[r[take], c[take]] = hours.loss_ratio[take]
    return compute_season(grid, hour_ts, median), compute_season(grid, hour_ts, loss)
