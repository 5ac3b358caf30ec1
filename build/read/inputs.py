"""The read stage: everything a build needs from the database and from the previous build, in
one BuildInputs record. All of the build's SQL runs behind this module (build/read/queries.py
and the modules it names), on one read-only connection, against one checkpoint; compute and
render do no I/O but through LongHistoryInput's per-target loaders (build/read/long_history.py).
"""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from build.compute.detector_input import HourValues
from build.compute.events import Event
from build.compute.panel import WINDOW_ROUNDS, season_hours
from build.compute.session_figures import SessionHours
from build.compute.sessions import (SessionTable, session_table_covers, session_table_from_json,
                                    session_table_span, session_table_to_json)
from build.errors import BuildError
from build.read.long_history import LongHistoryInput, read_long_history
from build.read.queries import (read_events, read_hops, read_last_event_round,
                                read_latest_round,
                                read_region_last_round, read_trace_details)
from build.read.session_hours import read_session_hours
from build.read.season import read_season
from build.read.state import CarriedState, Checkpoint, Part, read_checkpoint
from build.read.week import HourlyColumns, read_week_hourly
from build.read.window import read_recent_window
from build.read.window_rows import RecentWindow
from collect.records import ROUND_S, round_slot
from collect.targets import Catalog
from db.connection import connect

RAW_WINDOW_S = WINDOW_ROUNDS * ROUND_S  # the 24 h series, and what the event detector sees
WEEK_S = 7 * 86400
HOUR_S = 3600
EVENT_HISTORY_S = 90 * 86400  # stored events of signals/history.json (the longest tier)
SKEW_S = 60  # rounds stamped up to this far past now are a collector clock a little fast
# bench/signals.py writes the detector's measured false-alarm rates and power here
ROOT = Path(__file__).resolve().parents[2]  # the child runs here, so `build` is this package
MEASURED_QUALITY = ROOT / "bench" / "results" / "signal_quality.json"
SESSIONS_CHILD_TIMEOUT_S = 120  # exchange_calendars takes ~2 s for the catalog's calendars

Pair = tuple[str, str]  # (target, region)


@dataclass(frozen=True, slots=True)
class BuildClock:
    now_ts: float  # staleness and clock skew are judged at this time
    source_date_epoch: int | None = None  # when set, generated_at (reproducible builds)


@dataclass(frozen=True, slots=True)
class RouteInputs:
    """Each (target, region)'s latest trace round, its fingerprint and hop details."""

    latest: dict[Pair, tuple[int, str | None]]  # (round_ts, fingerprint)
    details: dict[tuple[str, str, int], dict]  # (target, region, round_ts) -> detail


@dataclass(frozen=True, slots=True)
class BuildInputs:
    catalog: Catalog
    clock: BuildClock
    latest: int | None  # the newest round at or before now (+ skew); None: no results
    window: RecentWindow  # the 24 h of raw results
    season: HourValues  # the rollups the detector's same-hour-of-week baseline needs
    hops: dict[str, tuple[str, ...]]  # hop addresses of each trace fingerprint in the window
    hourly: HourlyColumns  # the rollups of the last 7 days of whole hours and the current one
    last_rounds: dict[str, int | None]  # each catalog region's newest round
    events: list[Event]  # stored events still open or started in the last 90 days
    judged_round: int | None  # the last round judged: the state's, else the newest stored
    # event's (rounds after it are judged again; ids are stable), None: never
    routes: RouteInputs
    long_history: LongHistoryInput | None  # None: the database holds no results
    measured_quality: dict | None  # bench/signals.py's figures for the detector, if written
    checkpoint: Checkpoint | None
    parts: dict[str, Part]  # the state's parts read here (window, week, sessions,
    # session_hours), for the write stage
    sessions: SessionTable  # every catalog calendar's sessions, covering the latest round
    session_hours: SessionHours  # 30 days of rollups to the last whole hour before it


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
    # first, while this process is small: the child's memory adds to the build's
    sessions, sessions_part = read_sessions(catalog, ref, part("sessions"))
    with ThreadPoolExecutor(1) as pool:
        season = _start_season(pool, conn, ref, before, part("season"))
        window, window_part = read_recent_window(conn, ref - RAW_WINDOW_S, until, checkpoint,
                                                 before, part("window"))
        codes = tuple(r.code for r in catalog.regions)
        last_rounds = {code: read_region_last_round(conn, code, until) for code in codes}
        events = read_events(conn, ref - EVENT_HISTORY_S)
        hosts = [t.host for t in catalog.targets]
        known = set(hosts)
        routes = _read_routes(conn, {p: t for p, t in window.latest_traces.items()
                                     if p[0] in known})
        hops = read_hops(conn, window.fingerprint_rows)
        week_start = ref // HOUR_S * HOUR_S - WEEK_S  # 7 days of whole hours, and this one
        hourly, week_part = read_week_hourly(conn, week_start, ref, checkpoint, before,
                                             part("week"))
        session_hours, session_hours_part = read_session_hours(
            conn, tuple(hosts), codes, ref // HOUR_S * HOUR_S - HOUR_S, checkpoint, before,
            part("session_hours"))
        history = None if latest is None else read_long_history(
            conn, hosts, latest, before, part("history"), previous_private)
        judged = (part("events") or Part({})).meta.get("round")
        if judged is None:
            judged = read_last_event_round(conn)
        season_values, season_part = season.result()
        return BuildInputs(catalog, clock, latest, window, season_values, hops, hourly,
                           last_rounds, events, judged, routes, history,
                           read_measured_quality(MEASURED_QUALITY), checkpoint,
                           {"window": window_part, "week": week_part, "season": season_part,
                            "sessions": sessions_part,
                            "session_hours": session_hours_part},
                           sessions, session_hours)


def read_sessions(catalog: Catalog, ref_ts: int,
                  carried: Part | None) -> tuple[SessionTable, Part]:
    """The sessions of the catalog's calendars around ref_ts (unix s): the carried table while
    it covers them, else a new one from build/sessions_table.py's child process (about once a
    month). Any covering table gives the same answers, so the state stays an optimisation."""
    codes = sorted({t.calendar for t in catalog.targets if t.calendar is not None})
    table = None if carried is None else session_table_from_json(carried.meta)
    if table is None or not session_table_covers(table, ref_ts, codes):
        start_ts, end_ts = session_table_span(ref_ts)
        table = (_session_table_child(codes, start_ts, end_ts) if codes
                 else SessionTable(start_ts, end_ts, {}))
    return table, Part(session_table_to_json(table))


def _session_table_child(codes: list[str], start_ts: int, end_ts: int) -> SessionTable:
    """Raises BuildError when the child fails or answers something else than a table."""
    cmd = [sys.executable, "-m", "build.sessions_table", str(start_ts), str(end_ts), *codes]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                             timeout=SESSIONS_CHILD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"build.sessions_table: {exc}") from exc
    try:
        table = session_table_from_json(json.loads(run.stdout)) if run.returncode == 0 else None
    except ValueError:
        table = None
    if table is None:
        why = (run.stderr.strip().splitlines() or [f"exit status {run.returncode}"])[-1]
        raise BuildError(f"trading sessions of {', '.join(codes)}: {why}")
    return table


def read_measured_quality(path: Path) -> dict | None:
    """The benchmark's figures, None when the file is missing or not a JSON object."""
    try:
        doc = json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _start_season(pool: ThreadPoolExecutor, conn: sqlite3.Connection, ref: int,
                  before: Checkpoint | None, carried: Part | None) -> Future:
    """The rollups of the same hours 1..4 weeks before the window's rounds (build/read/
    season.py), read by pool's thread on a read-only connection of its own (SQLite releases
    the GIL) while the caller reads the raw window."""
    rounds = np.arange(ref - RAW_WINDOW_S + ROUND_S, ref + 1, ROUND_S, dtype=np.int64)
    path = conn.execute("PRAGMA database_list").fetchone()[2]  # the main database's file
    return pool.submit(_read_season, path, season_hours(rounds).tolist(), before, carried)


def _read_season(path: str, hours: list[int], before: Checkpoint | None,
                 carried: Part | None) -> tuple[HourValues, Part]:
    conn = connect(path, readonly=True)
    try:
        return read_season(conn, hours, before, carried)
    finally:
        conn.close()


def _read_routes(conn: sqlite3.Connection,
                 latest: dict[Pair, tuple[int, str | None]]) -> RouteInputs:
    """The hops of each pair's latest trace (round_ts, fingerprint), in one query."""
    wanted = sorted((t, r, ts) for (t, r), (ts, _) in latest.items())
    return RouteInputs(latest, read_trace_details(conn, wanted))
