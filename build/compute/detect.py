"""Signals of one round from arrays: rtt_anomaly, trend, divergence and route_change, each with
its scope and agreeing regions and a one-line description. Pure: no I/O, no clock.
"""
from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from build.compute.signals import (DIVERGENCE_Z, TREND_WINDOW_S, Z_FIRE, Signal, TrendFit,
                           compute_divergent, compute_level_z_rows, compute_rtt_z_rows,
                           compute_scale_rows, compute_theil_sen_rows, scope_of, severity_of_z,
                           trend_fires, trend_threshold_ms_per_h, weekly_level_ms)
from build.compute.signals_route import RouteEvent
from collect.records import ROUND_S

SIGNAL_PROBES = ("icmp", "tcp", "http", "tls", "dns")  # trace is judged by its route
HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class SeriesInput:
    """Recent rounds of one (target, region, probe), oldest first."""

    target: str
    name: str
    category: str
    region: str
    probe: str
    ts: np.ndarray  # unix s of each round
    rtt_ms: np.ndarray  # NaN where nothing came back
    weekly_ms: np.ndarray | None = None  # hourly medians of the same hour 1, 2, ... weeks ago


@dataclass(frozen=True, slots=True)
class RouteInput:
    target: str
    name: str
    region: str
    event: RouteEvent
    old_hops: tuple[str, ...]
    new_hops: tuple[str, ...]


def compute_round_signals(series: list[SeriesInput], routes: list[RouteInput],
                          round_ts: int) -> list[Signal]:
    """Every signal firing on round_ts, sorted by (type, target, probe, region)."""
    latest = [s for s in series if s.ts.size and int(s.ts[-1]) == round_ts
              and s.probe in SIGNAL_PROBES]
    found: list[Signal] = []
    if latest:
        grid_ts, rtt = _on_grid(latest, round_ts)
        weekly = np.array([weekly_level_ms(s.weekly_ms) for s in latest])
        zs = _z_rows(rtt, weekly)
        found += _anomalies(latest, rtt, zs, round_ts) + _divergences(latest, zs, round_ts)
        found += _trends(latest, grid_ts, rtt, round_ts)
    found += [_route_signal(r) for r in routes if r.event.ts == round_ts]
    return sorted(_with_scope(found), key=lambda g: (g.type, g.target, g.probe, g.region))


def _on_grid(latest: list[SeriesInput], round_ts: int) -> tuple[np.ndarray, np.ndarray]:
    """All series on one round grid ending at round_ts: (grid times, rows x rounds, NaN-filled)."""
    width = max(int((round_ts - s.ts[0]) // ROUND_S) + 1 for s in latest)
    grid_ts = round_ts - ROUND_S * np.arange(width - 1, -1, -1)
    rtt = np.full((len(latest), width), np.nan)
    for row, s in enumerate(latest):
        rtt[row, width - 1 - (round_ts - s.ts) // ROUND_S] = s.rtt_ms
    return grid_ts, rtt


def _z_rows(rtt: np.ndarray, weekly: np.ndarray) -> np.ndarray:
    """The latest round's z, or the recent level's when that is further off (a shift)."""
    z = compute_rtt_z_rows(rtt[:, :-1], rtt[:, -1], weekly)
    level = compute_level_z_rows(rtt, weekly)
    return np.where(np.isfinite(level) & (np.abs(level) > np.abs(np.nan_to_num(z))), level, z)


def _anomalies(latest: list[SeriesInput], rtt: np.ndarray, zs: np.ndarray,
               round_ts: int) -> list[Signal]:
    out = []
    for row in np.flatnonzero(np.abs(np.nan_to_num(zs)) > Z_FIRE):
        s, z = latest[row], float(zs[row])
        kind = "spike" if z > 0 else "drop"
        level = float(np.nanmedian(rtt[row, :-1]))
        text = (f"{s.name} RTT {kind} from {s.region} over {s.probe}: {rtt[row, -1]:.1f} ms "
                f"against a {level:.1f} ms baseline (z {z:+.1f})")
        out.append(_signal("rtt_anomaly", s, round_ts, z, Z_FIRE, severity_of_z(z), text))
    return out


def _divergences(latest: list[SeriesInput], zs: np.ndarray, round_ts: int) -> list[Signal]:
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, s in enumerate(latest):
        groups[(s.category, s.region, s.probe)].append(i)
    out = []
    for idx in groups.values():
        group_z = zs[idx]
        peers = float(np.nanmedian(np.abs(group_z))) if np.isfinite(group_z).any() else 0.0
        for i, hit in zip(idx, compute_divergent(group_z)):
            if hit:
                s, z = latest[i], float(zs[i])
                verb = "lags" if z > 0 else "speeds up"
                text = (f"{s.name} {verb} from {s.region} while its peers are stable "
                        f"(z {z:+.1f}, peers' median |z| {peers:.1f})")
                out.append(_signal("divergence", s, round_ts, z, DIVERGENCE_Z,
                                   severity_of_z(z), text))
    return out


def _trends(latest: list[SeriesInput], grid_ts: np.ndarray, rtt: np.ndarray,
            round_ts: int) -> list[Signal]:
    window = grid_ts > round_ts - TREND_WINDOW_S
    t_h = (grid_ts[window] - round_ts) / HOUR_S
    slope, low, high, _ = compute_theil_sen_rows(t_h.astype(float), rtt[:, window])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nan_to_num(np.nanmedian(rtt, axis=1))
    out = []
    for row, threshold in enumerate(trend_threshold_ms_per_h(compute_scale_rows(rtt, level))):
        fit = None if np.isnan(slope[row]) else TrendFit(float(slope[row]), float(low[row]),
                                                          float(high[row]), 0)
        if not trend_fires(fit, float(threshold)):
            continue
        s = latest[row]
        verb = "rising" if fit.slope_ms_per_h > 0 else "falling"
        text = (f"{s.name} RTT {verb} {abs(fit.slope_ms_per_h):.1f} ms/h from {s.region} over "
                f"{TREND_WINDOW_S // HOUR_S} h (95% CI {fit.low_ms_per_h:+.1f} to "
                f"{fit.high_ms_per_h:+.1f} ms/h)")
        severity = "warning" if abs(fit.slope_ms_per_h) > 4 * threshold else "info"
        out.append(_signal("trend", s, round_ts, fit.slope_ms_per_h, float(threshold),
                           severity, text))
    return out


def _route_signal(r: RouteInput) -> Signal:
    text = (f"{r.name} route from {r.region} changed: {len(r.old_hops)} hops "
            f"-> {len(r.new_hops)} hops")
    return Signal("route_change", r.target, r.region, "trace", r.event.ts, 1.0, 1.0, "info",
                  "regional", (r.region,), text, r.old_hops, r.new_hops,
                  r.event.old_fingerprint, r.event.new_fingerprint)


def _signal(kind: str, s: SeriesInput, ts: int, value: float, threshold: float,
            severity: str, text: str) -> Signal:
    return Signal(kind, s.target, s.region, s.probe, ts, round(float(value), 3), threshold,
                  severity, "regional", (s.region,), text)


def _with_scope(found: list[Signal]) -> list[Signal]:
    """Regions agree when the same kind of signal, same direction, fired for the same target
    and probe in the same round; at GLOBAL_MIN_REGIONS it is the target's, not a collector's."""
    groups: dict[tuple, list[Signal]] = defaultdict(list)
    for g in found:
        groups[(g.type, g.target, g.probe, g.ts, g.value > 0)].append(g)
    out = []
    for members in groups.values():
        regions = tuple(sorted(g.region for g in members))
        scope = scope_of(len(regions))
        for g in members:
            text = g.description if scope == "regional" else (
                f"{g.description}; seen from {len(regions)} regions")
            out.append(replace(g, scope=scope, regions=regions, description=text))
    return out
