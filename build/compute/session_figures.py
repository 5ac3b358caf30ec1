"""Each target's trading-session figures for the site model: whether its market is open at the
build's round and its next open or close, its latency and availability in session hours next
to all hours per region over 24 h, 7 d and 30 d, and the session spans its 24 h chart shades.
Pure: the session table and the hourly rollups come from the read stage.

The figures are of hourly rollups (SessionHours: the 30 days the read stage carries) of the
probe colocation ranks the target on (icmp, or tcp where icmp is blocked), or with too few
hours to rank, the first of PROBES with a rollup; an hour counts as in session when its middle
is (compute_session_stats).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.sessions import (DAY_S, LatencyPoints, MarketState, SessionStats, SessionTable,
                                    compute_rows_session_stats, market_state, session_spans)
from collect.records import Target

HOUR_S = 3600
WINDOWS_S = (DAY_S, 7 * DAY_S, 30 * DAY_S)  # the public page shows the first, the keyed API all
SESSION_HOURS = WINDOWS_S[-1] // HOUR_S
PROBES = ("icmp", "tcp")  # the probes colocation ranks on, the only ones the read stage carries

Key = tuple[str, str, str]  # (target, region, probe)


@dataclass(frozen=True, slots=True, eq=False)
class SessionHours:
    """Hourly rollups over SESSION_HOURS hours: row i of each array is keys[i], column j the
    hour starting first_hour_ts + 3600 j (unix s). median_ms is NaN and the counts 0 where the
    hour has no rollup (median_ms is NaN too when no probe of the hour got an answer)."""

    keys: tuple[Key, ...]
    first_hour_ts: int
    median_ms: np.ndarray  # float (keys, hours)
    ok_count: np.ndarray  # int (keys, hours): results that got an answer
    count: np.ndarray  # int (keys, hours): results


@dataclass(frozen=True, slots=True)
class SessionWindow:
    """Per region (catalog order), the figures of the window_s seconds ending at end_ts (unix
    s, exclusive: the end of the last whole hour)."""

    window_s: int
    end_ts: int
    regions: tuple[tuple[str, SessionStats], ...]


@dataclass(frozen=True, slots=True)
class TargetSessions:
    calendar: str | None  # the catalog's code; None: open 24/7
    at_ts: int  # unix s: the latest round, when `market` holds
    market: MarketState
    probe: str | None  # the figures' probe; None when colocation ranks none
    windows: tuple[SessionWindow, ...]  # one per WINDOWS_S, in that order
    spans: tuple[tuple[int, int], ...]  # session intervals (unix s) within the 24 h before at_ts;
    # () for a market open 24/7, which has nothing to mark


def compute_target_sessions(targets: tuple[Target, ...], regions: tuple[str, ...],
                            table: SessionTable, hours: SessionHours, ranked: dict[str, str | None],
                            at_ts: int) -> dict[str, TargetSessions]:
    """By host: the figures of each target on the probe colocation ranks it on (ranked), windows
    ending with the grid's last hour. Raises KeyError when table lacks a target's calendar
    (the read stage builds it for every calendar of the catalog)."""
    row = {k: i for i, k in enumerate(hours.keys)}
    n_hours = hours.median_ms.shape[1]
    ts = hours.first_hour_ts + HOUR_S * np.arange(n_hours, dtype=np.int64)
    end_ts = hours.first_hour_ts + n_hours * HOUR_S
    out = {}
    for t in targets:
        sessions = table.of(t)
        probe = ranked.get(t.host) or next(
            (p for p in PROBES for r in regions
             if (t.host, r, p) in row and hours.count[row[(t.host, r, p)]].any()), None)
        points = _region_points(hours, row, ts, [(t.host, r, probe) for r in regions])
        windows = tuple(SessionWindow(w, end_ts, tuple(zip(
            regions, compute_rows_session_stats(points, sessions, end_ts, w))))
            for w in WINDOWS_S)
        spans = () if t.calendar is None else session_spans(sessions, at_ts - DAY_S, at_ts)
        out[t.host] = TargetSessions(t.calendar, at_ts, market_state(sessions, at_ts), probe,
                                     windows, spans)
    return out


def _region_points(hours: SessionHours, row: dict[Key, int], ts: np.ndarray,
                   keys: list[Key]) -> LatencyPoints:
    """The hours of keys as rows (NaN and 0 for a key without rollups)."""
    found = [i for i, k in enumerate(keys) if k in row]
    rows = [row[keys[i]] for i in found]
    shape = (len(keys), len(ts))
    rtt, ok, count = np.full(shape, np.nan), np.zeros(shape, np.int64), np.zeros(shape, np.int64)
    rtt[found], ok[found], count[found] = (hours.median_ms[rows], hours.ok_count[rows],
                                           hours.count[rows])
    return LatencyPoints(HOUR_S, ts, rtt, ok, count)
