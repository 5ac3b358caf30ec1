"""What one round shows, series by series: Findings (candidate onsets) and Holds (whether an
open event's condition still holds, with its latest figures). Pure; events.py turns them into
events.

Types and their rules:
- level_shift: the change rule of changes.py on an RTT series alone, or on the PATH_PROBES
  series of one (target, region) together.
- divergence: the same rule, when at least MIN_PEERS other targets of its category, region
  and probe stayed calm over the same rounds (their median mean z within PEER_CALM_Z).
- trend: a steady rise or fall over 6 h (changes.compute_ramps).
- spike: one round at least SPIKE_Z off in two or more path probes of a (target, region),
  the rounds before and after normal again: a round-trip, published one round later, already
  resolved. A single probe's outlier (a retransmitted packet) is noise.
- loss: loss.py's binomial tests.
- route_change: route_events.py; an RTT change whose pair shows a new route within
  JOIN_ROUNDS of it becomes one route_change naming the hops and the RTT before and after.
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from build.compute.changes import (TREND_ROUNDS, RttWindow, compute_level_holds,
                                   compute_onsets, compute_ramps, compute_shift_tests, ramp_holds,
                                   ramp_medians, z_of)
from build.compute.loss import LossWindow, compute_loss_holds
from build.compute.panel import NO_ROUTE, Panel
from build.compute.route_events import ROUTE_PERSIST_ROUNDS, RouteWindow, route_holds
from collect.records import ROUND_S

RTT_PROBES = ("icmp", "tcp", "tls", "http", "dns")  # trace is judged by its route
PATH_PROBES = ("icmp", "tcp", "tls", "http")  # dns asks a resolver, not the target
MIN_PEERS = 3
PEER_CALM_Z = 1.0
SPIKE_Z = 6.0
SPIKE_BACK_Z = 2.0  # the rounds around a spike are within this


@dataclass(frozen=True, slots=True)
class Finding:
    """A candidate onset on one series (or route pair) this round."""

    type: str
    target: str
    region: str
    probe: str
    onset_col: int
    direction: int  # +1 up, -1 down, 0 for a route
    z: float | None  # the peak z, signed
    before_ms: float | None
    during_ms: float | None
    detail: dict | None
    level_z: float | None = None  # the level's move in its side's scale (RTT changes)

    @property
    def key(self) -> tuple:
        return (self.target, self.region, self.probe)


@dataclass(frozen=True, slots=True)
class Windows:
    panel: Panel
    rtt: RttWindow
    loss: LossWindow
    routes: RouteWindow
    rows: dict  # (target, region, probe) -> row
    route_rows: dict  # (target, region) -> row


def find_rtt_changes(ws: Windows, explained: Callable[[tuple], bool]) -> list[Finding]:
    """level_shift and divergence findings (route joins are made by events.py), but none on
    a series where explained((target, region, probe)) (an open event's: a replay meets most
    changes again round after round while they are open)."""
    p, w = ws.panel, ws.rtt
    direction = np.where(_rtt_rows(p.keys), compute_shift_tests(w, _path_ids(p.keys)), 0)
    rows = np.array([r for r in np.flatnonzero(direction).tolist() if not explained(p.keys[r])],
                    dtype=np.int64)
    if rows.size == 0:
        return []
    onset = compute_onsets(w, direction)
    holds = _level_figures(w, rows, onset[rows], direction[rows])
    groups = _peer_groups(p)
    out = []
    for row, d, col, (_, peak_z, before, during, level_z) in zip(
            rows.tolist(), direction[rows].tolist(), onset[rows].tolist(), holds):
        target, region, probe = p.keys[row]
        peers = [i for i in groups.get((p.categories.get(target), region, probe), ())
                 if p.keys[i][0] != target]
        kind = "divergence" if _calm(z_of(w, peers, col)) else "level_shift"
        out.append(Finding(kind, target, region, probe, col, d, peak_z, before, during, None,
                           level_z))
    return out


def _level_figures(w: RttWindow, rows: np.ndarray, onset_cols: np.ndarray,
                   directions: np.ndarray) -> list[tuple]:
    """(holds, peak_z, before_ms, during_ms, level_z) of each change (compute_level_holds)."""
    h = compute_level_holds(w, rows, onset_cols, directions)
    return list(zip(h.holds.tolist(), h.peak_z.tolist(), map(_ms, h.before.tolist()),
                    map(_ms, h.during.tolist()), h.level_z.tolist()))


def per_keys(fn: Callable) -> Callable:
    """fn(keys) cached on the identity of keys, a tuple of series (the same object round
    after round in a replay or a build, and hashing a thousand keys every call, as
    lru_cache does, costs more than what is looked up). The result is read only."""
    cache: dict[int, tuple] = {}

    def cached(keys: tuple):
        hit = cache.get(id(keys))
        if hit is None:
            if len(cache) >= 8:
                cache.clear()
            hit = cache[id(keys)] = (keys, fn(keys))  # keys held: its id stays its own
        return hit[1]
    return cached


@per_keys
def _rtt_rows(keys: tuple) -> np.ndarray:
    return _frozen(np.array([k[2] in RTT_PROBES for k in keys], dtype=bool))


@per_keys
def _path_ids(keys: tuple) -> np.ndarray:
    """[n_series] one number per (target, region) for the PATH_PROBES series, -1 for others."""
    ids: dict[tuple, int] = {}
    return _frozen(np.array([ids.setdefault(k[:2], len(ids)) if k[2] in PATH_PROBES else -1
                             for k in keys], dtype=np.int64))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _peer_groups(p: Panel) -> dict[tuple, tuple[int, ...]]:
    return _peer_groups_of(p.keys, tuple(sorted(p.categories.items())))


@lru_cache(maxsize=4)
def _peer_groups_of(keys: tuple, categories: tuple) -> dict[tuple, tuple[int, ...]]:
    category = dict(categories)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (target, region, probe) in enumerate(keys):
        if target in category:
            groups[(category[target], region, probe)].append(i)
    return {k: tuple(v) for k, v in groups.items()}


def _calm(peer_z: np.ndarray) -> bool:
    """At least MIN_PEERS peers measured, and their median mean z within PEER_CALM_Z."""
    measured = np.isfinite(peer_z).any(axis=1)
    if measured.sum() < MIN_PEERS:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        moves = np.nanmean(peer_z[measured], axis=1)
    return abs(float(np.median(moves))) < PEER_CALM_Z


def find_trends(ws: Windows) -> list[Finding]:
    p, w = ws.panel, ws.rtt
    direction = np.where(_rtt_rows(p.keys), compute_ramps(w), 0)
    rows = np.flatnonzero(direction)
    if rows.size == 0:
        return []
    start = max(0, w.y.shape[1] - TREND_ROUNDS)
    holds = _level_figures(w, rows, np.full(rows.size, start), direction[rows])
    out = []
    for row, d, (_, peak_z, before, during, level_z) in zip(rows.tolist(),
                                                            direction[rows].tolist(), holds):
        target, region, probe = p.keys[row]
        out.append(Finding("trend", target, region, probe, start, d, peak_z, before, during,
                           _slope(w, row), level_z))
    return out


def _slope(w: RttWindow, row: int) -> dict:
    """ms/h between the medians of the first and last quarters of the trend's 6 h."""
    m = ramp_medians(w.y[row:row + 1])[0]
    hours = (TREND_ROUNDS - TREND_ROUNDS // 4) * ROUND_S / 3600
    return {"slope_ms_per_h": round(float(m[-1] - m[0]) / hours, 2)}


def find_spikes(ws: Windows) -> list[Finding]:
    p, z = ws.panel, ws.rtt.z
    if z.shape[1] < 3:
        return []
    by_pair: dict[tuple, list[int]] = defaultdict(list)
    for row in np.flatnonzero(np.abs(z[:, -2]) >= SPIKE_Z).tolist():  # NaN compares False
        target, region, probe = p.keys[row]
        calm = all(np.isfinite(z[row, c]) and abs(z[row, c]) < SPIKE_BACK_Z for c in (-3, -1))
        if probe in PATH_PROBES and calm:
            by_pair[(target, region, int(np.sign(z[row, -2])))].append(row)
    out = []
    for (target, region, d), rows in sorted(by_pair.items()):
        if len(rows) < 2:
            continue
        top = max(rows, key=lambda r: abs(z[r, -2]))
        out.append(Finding("spike", target, region, p.keys[top][2], p.round_ts.size - 2, d,
                           float(z[top, -2]), _ms(ws.rtt.level[top]),
                           round(float(p.rtt_ms[top, -2]), 2),
                           {"probes": sorted(p.keys[r][2] for r in rows)}))
    return out


def find_losses(ws: Windows) -> list[Finding]:
    p, lw = ws.panel, ws.loss
    out = []
    for row in np.flatnonzero(lw.fires).tolist():
        target, region, probe = p.keys[row]
        out.append(Finding("loss", target, region, probe, int(lw.onset[row]), 1,
                           float(lw.z[row]), _ms(ws.rtt.level[row]), None,
                           {"loss_before_ratio": round(float(lw.base_ratio[row]), 4),
                            "loss_during_ratio": _loss_since(p, row, int(lw.onset[row]))}))
    return out


def find_routes(ws: Windows, min_rounds: int = ROUTE_PERSIST_ROUNDS) -> list[Finding]:
    """Route changes with at least min_rounds new traced rounds."""
    p, rw = ws.panel, ws.routes
    out = []
    for row in np.flatnonzero(rw.new_rounds >= min_rounds).tolist():
        target, region = p.route_keys[row]
        out.append(Finding("route_change", target, region, "trace", int(rw.onset[row]), 0,
                           None, None, None, route_detail(p, int(rw.old_code[row]),
                                                          int(rw.new_code[row]))))
    return out


def route_detail(p: Panel, old: int, new: int) -> dict:
    return {"old_fingerprint": p.fingerprints[old] if old != NO_ROUTE else None,
            "new_fingerprint": p.fingerprints[new],
            "old_hops": list(p.hops[old]) if old != NO_ROUTE else [],
            "new_hops": list(p.hops[new])}


@dataclass(frozen=True, slots=True)
class Hold:
    holds: bool
    z: float | None  # the largest |z| seen this round, signed
    during_ms: float | None
    during_ratio: float | None  # loss only
    level_z: float | None = None  # RTT changes: the level's move in its side's scale


@dataclass(frozen=True, slots=True)
class HoldAsk:
    """One series of an open event to judge: its type, (target, region, probe), onset column,
    direction (+1 / -1) and detail."""

    kind: str
    key: tuple
    onset_col: int
    direction: int
    detail: dict | None


def compute_holds(ws: Windows, asks: list[HoldAsk]) -> list[Hold | None]:
    """Whether the condition of each open event still holds on one of its series (None: the
    series is not in this panel, which is no news); the RTT levels of all are computed
    together."""
    levels = [_level_key(ws, a) for a in asks]
    wanted = [k for k in levels if k is not None]
    figures = iter(_level_figures(ws.rtt, *(np.array(v, dtype=np.int64) for v in zip(*wanted)))
                   if wanted else ())
    return [_hold(ws, a, None if k is None else next(figures)) for a, k in zip(asks, levels)]


def _level_key(ws: Windows, a: HoldAsk) -> tuple[int, int, int] | None:
    """(row, onset column, direction) of the RTT change whose level a's hold reads: its
    series', or the RTT change a route change was joined with; None for none."""
    if a.kind == "loss":
        return None
    if a.kind == "route_change":
        shift = (a.detail or {}).get("shift")
        if shift is None:
            return None
        row, direction = ws.rows.get((*a.key[:2], shift["probe"])), int(shift["direction"])
    else:
        row, direction = ws.rows.get(a.key), a.direction
    return None if row is None else (row, a.onset_col, direction)


def _hold(ws: Windows, a: HoldAsk, level: tuple | None) -> Hold | None:
    """a's Hold; level: the figures of its RTT change (_level_figures), None for none."""
    if a.kind == "route_change":
        row = ws.route_rows.get(a.key[:2])
        if row is None:
            return None
        holds = route_holds(ws.panel.route_code[row], a.onset_col)
        if level is None:
            return Hold(holds, None, None, None)
        _, z, _, during_ms, level_z = level
        return Hold(holds, z, during_ms, None, level_z)
    row = ws.rows.get(a.key)
    if row is None:
        return None
    if a.kind == "loss":
        before = float((a.detail or {}).get("loss_before_ratio", 0.0))
        holds = bool(compute_loss_holds(ws.panel.loss_ratio[row:row + 1], np.array([before]))[0])
        return Hold(holds, None, None, _loss_since(ws.panel, row, a.onset_col))
    level_holds, z, _, during_ms, level_z = level
    holds = ramp_holds(ws.rtt, row, a.direction) if a.kind == "trend" else level_holds
    return Hold(holds, z, during_ms, None, level_z)


def _loss_since(p: Panel, row: int, col: int) -> float | None:
    """The loss ratio of a series' rounds since col (lost rounds included)."""
    since = p.loss_ratio[row, max(col, 0):]
    since = since[np.isfinite(since)]
    return round(float(since.mean()), 4) if since.size else None


def _ms(level_ms: float) -> float | None:
    return round(float(level_ms), 2) if math.isfinite(level_ms) else None
