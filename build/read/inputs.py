"""The read stage: everything a build needs from the database and from the previous build, in
one BuildInputs record. All of the build's SQL runs behind this module (build/read/queries.py
and the modules it names), on one read-only connection, against one checkpoint; compute and
render do no I/O but through LongHistoryInput's per-target loaders (build/read/long_history.py).
"""
from __future__ import annotations

import sqlite3
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from build.compute.series import Key
from build.compute.signals import Signal
from build.compute.signals_route import RouteEvent, compute_route_changes
from build.read.long_history import LongHistoryInput, read_long_history
from build.read.queries import (read_hour_medians, read_latest_round, read_region_last_round,
                                read_signals, read_trace_details)
from build.read.state import CarriedState, Checkpoint, Part, read_checkpoint
from build.read.week import HourlyColumns, read_week_hourly
from build.read.window import read_recent_window
from build.read.window_rows import RecentWindow
from collect.records import round_slot
from collect.targets import Catalog
from db.connection import connect

RAW_WINDOW_S = 24 * 3600  # the 24 h series, anomaly baselines and route detection
WEEK_S = 7 * 86400
HOUR_S = 3600
WEEKS_BACK = 12  # same-hour-of-week rollups for the weekly baseline
SKEW_S = 60  # rounds stamped up to this far past now are a collector clock a little fast

Pair = tuple[str, str]  # (target, region)


@dataclass(frozen=True, slots=True)
class BuildClock:
    now_ts: float  # staleness and clock skew are judged at this time
    source_date_epoch: int | None = None  # when set, generated_at (reproducible builds)


@dataclass(frozen=True, slots=True)
class RouteInputs:
    """Trace rounds per (target, region), the route changes they show, and the hop details of
    the rounds the model shows (each pair's latest round, each change's old and new round)."""

    rounds: dict[Pair, tuple[list[int], list[str | None]]]  # (round_ts, fingerprint), oldest first
    changes: dict[Pair, list[RouteEvent]]
    details: dict[tuple[str, str, int], dict]  # (target, region, round_ts) -> detail


@dataclass(frozen=True, slots=True)
class BuildInputs:
    catalog: Catalog
    clock: BuildClock
    latest: int | None  # the newest round at or before now (+ skew); None: no results
    window: RecentWindow  # the 24 h of raw results
    weekly: dict[Key, list[float]]  # same-hour-of-week hourly medians, WEEKS_BACK weeks back
    hourly: HourlyColumns  # the rollups of the last 7 whole hours and the current one
    last_rounds: dict[str, int | None]  # each catalog region's newest round
    stored_signals: list[Signal]  # stored signals of the last 7 days
    routes: RouteInputs
    long_history: LongHistoryInput | None  # None: the database holds no results
    checkpoint: Checkpoint | None
    parts: dict[str, Part]  # the state's parts read here (window, week), for the write stage


def read_inputs(conn: sqlite3.Connection, catalog: Catalog, clock: BuildClock,
                carried: CarriedState | None = None,
                previous_private: Path | None = None) -> BuildInputs:
    """carried: the previous build's state, already checked against this database;
    previous_private: the folder of the previous build's paid files, which it wrote from
    carried (the long histories slide on from them)."""
    checkpoint = read_checkpoint(conn)
    before = None if carried is None else carried.checkpoint
    part = (lambda name: None) if carried is None else carried.part
    until = int(clock.now_ts) + SKEW_S
    latest = read_latest_round(conn, until)
    ref = latest if latest is not None else round_slot(clock.now_ts)
    with ThreadPoolExecutor(1) as pool:  # joined before the pipeline forks its workers
        weekly = _start_weekly(pool, conn, ref)
        window, window_part = read_recent_window(conn, ref - RAW_WINDOW_S, until, checkpoint,
                                                 before, part("window"))
        codes = tuple(r.code for r in catalog.regions)
        last_rounds = {code: read_region_last_round(conn, code, until) for code in codes}
        stored = read_signals(conn, ref - WEEK_S, ref)
        hosts = [t.host for t in catalog.targets]
        known = set(hosts)
        routes = _read_routes(conn, [f for f in window.fingerprints if f[0] in known])
        week_start = ref // HOUR_S * HOUR_S - WEEK_S  # 7 days of whole hours, and this one
        hourly, week_part = read_week_hourly(conn, week_start, ref, checkpoint, before,
                                             part("week"))
        history = None if latest is None else read_long_history(
            conn, hosts, latest, before, part("history"), previous_private)
        return BuildInputs(catalog, clock, latest, window, weekly.result(), hourly, last_rounds,
                           stored, routes, history, checkpoint,
                           {"window": window_part, "week": week_part})


def _start_weekly(pool: ThreadPoolExecutor, conn: sqlite3.Connection, ref: int) -> Future:
    """The same-hour-of-week medians of the weekly baseline, read by pool's thread on a
    read-only connection of its own: ~25k scattered rollup lookups (0.2-0.4 s) that SQLite makes
    with the GIL released, while the caller reads the raw window and the routes."""
    hour = ref // HOUR_S * HOUR_S
    hours = [hour - k * WEEK_S for k in range(1, WEEKS_BACK + 1)]
    path = conn.execute("PRAGMA database_list").fetchone()[2]  # the main database's file
    return pool.submit(_read_weekly, path, hours)


def _read_weekly(path: str, hours: list[int]) -> dict[Key, list[float]]:
    conn = connect(path, readonly=True)
    try:
        return read_hour_medians(conn, hours)
    finally:
        conn.close()


def _read_routes(conn: sqlite3.Connection, fingerprints: list[tuple]) -> RouteInputs:
    """The window's (target, region, round_ts, fingerprint) trace rows as RouteInputs: the
    changes are found here only to know which rounds' hops to read, in one query."""
    rounds: dict[Pair, tuple[list[int], list[str | None]]] = {}
    for target, region, round_ts, fingerprint in fingerprints:
        ts, fps = rounds.setdefault((target, region), ([], []))
        ts.append(round_ts)
        fps.append(fingerprint)
    changes = {pair: compute_route_changes(ts, fps) for pair, (ts, fps) in rounds.items()}
    wanted = {(t, r, ts[-1]) for (t, r), (ts, _) in rounds.items()}
    wanted |= {(t, r, e.ts) for (t, r), events in changes.items() for e in events}
    wanted |= {(t, r, e.old_round_ts) for (t, r), events in changes.items() for e in events}
    return RouteInputs(rounds, changes, read_trace_details(conn, sorted(wanted)))
