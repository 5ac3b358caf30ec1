"""Signals of one round from arrays: rtt_anomaly, trend, divergence and route_change, each with
its scope and agreeing regions and a one-line description. Pure: no I/O, no clock.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

import numpy as np

from build.signals import (DIVERGENCE_Z, TREND_WINDOW_S, Z_FIRE, Signal, compute_divergent,
                           compute_level_z, compute_rtt_z, compute_scale_ms, compute_theil_sen, scope_of,
                           severity_of_z, trend_fires, trend_threshold_ms_per_h)
from build.signals_route import RouteEvent

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
    zs = np.array([_z_of(s) for s in latest], dtype=float)
    found = _anomalies(latest, zs, round_ts) + _divergences(latest, zs, round_ts)
    found += [t for s in latest if (t := _trend(s, round_ts)) is not None]
    found += [_route_signal(r) for r in routes if r.event.ts == round_ts]
    return sorted(_with_scope(found), key=lambda g: (g.type, g.target, g.probe, g.region))


def _z_of(s: SeriesInput) -> float:
    """The latest round's z, or the recent level's when that is further off (a shift)."""
    z = compute_rtt_z(s.rtt_ms[:-1], float(s.rtt_ms[-1]), s.weekly_ms)
    level = compute_level_z(s.rtt_ms, s.weekly_ms)
    return level if np.isfinite(level) and abs(level) > abs(z) else z


def _anomalies(latest: list[SeriesInput], zs: np.ndarray, round_ts: int) -> list[Signal]:
    out = []
    for s, z in zip(latest, zs):
        if not np.abs(z) > Z_FIRE:
            continue
        kind = "spike" if z > 0 else "drop"
        level = float(np.nanmedian(s.rtt_ms[:-1]))
        text = (f"{s.name} RTT {kind} from {s.region} over {s.probe}: {s.rtt_ms[-1]:.1f} ms "
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


def _trend(s: SeriesInput, round_ts: int) -> Signal | None:
    window = s.ts > round_ts - TREND_WINDOW_S
    t_h = (s.ts[window] - round_ts) / HOUR_S
    fit = compute_theil_sen(t_h.astype(float), s.rtt_ms[window])
    level = float(np.nanmedian(s.rtt_ms)) if np.isfinite(s.rtt_ms).any() else 0.0
    threshold = trend_threshold_ms_per_h(compute_scale_ms(s.rtt_ms, level))
    if fit is None or not trend_fires(fit, threshold):
        return None
    verb = "rising" if fit.slope_ms_per_h > 0 else "falling"
    text = (f"{s.name} RTT {verb} {abs(fit.slope_ms_per_h):.1f} ms/h from {s.region} over "
            f"{TREND_WINDOW_S // HOUR_S} h (95% CI {fit.low_ms_per_h:+.1f} to "
            f"{fit.high_ms_per_h:+.1f} ms/h)")
    severity = "warning" if abs(fit.slope_ms_per_h) > 4 * threshold else "info"
    return _signal("trend", s, round_ts, fit.slope_ms_per_h, threshold, severity, text)


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
