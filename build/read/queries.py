"""All SQL of the build, as `fn(conn, ...)` functions (but the raw window's, which
build/read/window.py reads incrementally). Everything reads, except store_signals."""
from __future__ import annotations

import json
import sqlite3

from build.compute.signals import Signal
from db.connection import transaction

_BATCH = 300  # keys per query (SQLite allows 32766 parameters)
HOURLY_COLUMNS = ("target", "region", "probe", "hour_ts", "median_ms", "p95_ms", "loss")
TARGET_HOURLY_COLUMNS = HOURLY_COLUMNS[1:]


def read_latest_round(conn: sqlite3.Connection, until_ts: int) -> int | None:
    """The newest round at or before until_ts (rows from further ahead are clock skew)."""
    row = conn.execute("SELECT max(round_ts) FROM results WHERE round_ts <= ?",
                       (until_ts,)).fetchone()
    return row[0]


def read_region_last_round(conn: sqlite3.Connection, region: str, until_ts: int) -> int | None:
    row = conn.execute("SELECT round_ts FROM results WHERE region = ? AND round_ts <= ? "
                       "ORDER BY round_ts DESC LIMIT 1", (region, until_ts)).fetchone()
    return None if row is None else row[0]


def read_trace_details(conn: sqlite3.Connection,
                       wanted: list[tuple[str, str, int]]) -> dict[tuple[str, str, int], dict]:
    """The detail of the trace result of each (target, region, round_ts) in wanted, by that
    key ({} when it has none), in one query over the unique key."""
    out: dict[tuple[str, str, int], dict] = {}
    for start in range(0, len(wanted), _BATCH):
        chunk = wanted[start:start + _BATCH]
        marks = ", ".join(["(?, ?, ?)"] * len(chunk))
        sql = ("SELECT target, region, round_ts, detail FROM results WHERE probe = 'trace' AND "
               f"(round_ts, region, target) IN (VALUES {marks})")
        args = [v for target, region, round_ts in chunk for v in (round_ts, region, target)]
        for target, region, round_ts, detail in conn.execute(sql, args):
            out[(target, region, round_ts)] = json.loads(detail) if detail else {}
    return out


def read_hour_medians(conn: sqlite3.Connection,
                      hours: list[int]) -> dict[tuple[str, str, str], list[float]]:
    """Hourly medians at the given hours, per (target, region, probe)."""
    marks = ", ".join("?" * len(hours))
    sql = f"SELECT target, region, probe, median_ms FROM hourly WHERE hour_ts IN ({marks})"
    out: dict[tuple[str, str, str], list[float]] = {}
    for target, region, probe, median in conn.execute(sql, hours):
        if median is not None:
            out.setdefault((target, region, probe), []).append(median)
    return out


def read_last_row(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """(rowid, identity) of the newest result: rows with a higher rowid arrived later; the
    identity tells a rebuilt or replaced database (or a reused rowid) apart."""
    row = conn.execute("SELECT rowid, target, region, probe, round_ts FROM results "
                       "ORDER BY rowid DESC LIMIT 1").fetchone()
    return None if row is None else (row[0], "/".join(map(str, row[1:])))


def read_row_identity(conn: sqlite3.Connection, rowid: int) -> str | None:
    row = conn.execute("SELECT target, region, probe, round_ts FROM results WHERE rowid = ?",
                       (rowid,)).fetchone()
    return None if row is None else "/".join(map(str, row))


def read_late_targets(conn: sqlite3.Connection, after_rowid: int, before_ts: int) -> set[str]:
    """Targets with results stored after after_rowid for rounds before before_ts (their hourly
    rollups changed). A rowid range: only the new rows are read."""
    # NOT INDEXED: walk the rowid range; the planner would otherwise scan the unique key's
    # round_ts range, which is nearly the whole table
    sql = "SELECT DISTINCT target FROM results NOT INDEXED WHERE rowid > ? AND round_ts < ?"
    return {r[0] for r in conn.execute(sql, (after_rowid, before_ts))}


def read_dirty_hour(conn: sqlite3.Connection) -> int | None:
    """The oldest hour whose rollups await a refresh (ingest/rollup.py marks them in
    hourly_dirty); None when none is pending or the database has no such table."""
    try:
        return conn.execute("SELECT min(hour_ts) FROM hourly_dirty").fetchone()[0]
    except sqlite3.OperationalError:
        return None


def read_hours(conn: sqlite3.Connection, after_hour: int, until_hour: int) -> list[tuple]:
    """(target, *TARGET_HOURLY_COLUMNS) rollups of every target with after_hour < hour_ts <=
    until_hour, ordered by target, region, probe, hour."""
    sql = (f"SELECT target, {', '.join(TARGET_HOURLY_COLUMNS)} FROM hourly "
           "WHERE hour_ts > ? AND hour_ts <= ? ORDER BY target, region, probe, hour_ts")
    return conn.execute(sql, (after_hour, until_hour)).fetchall()


def select_hours(conn: sqlite3.Connection, after_hour: int, until_hour: int) -> sqlite3.Cursor:
    """read_hours' rows in no particular order, as a cursor to fetch in chunks (a week of
    rollups is ~350k rows; unsorted, SQLite walks the hour index without a temporary b-tree)."""
    sql = (f"SELECT target, {', '.join(TARGET_HOURLY_COLUMNS)} FROM hourly "
           "WHERE hour_ts > ? AND hour_ts <= ?")
    return conn.execute(sql, (after_hour, until_hour))


def count_hourly(conn: sqlite3.Connection, since_hour: int, until_hour: int) -> dict[str, int]:
    """Rollups per target with since_hour <= hour_ts < until_hour."""
    sql = ("SELECT target, count(*) FROM hourly WHERE hour_ts >= ? AND hour_ts < ? "
           "GROUP BY target")
    return dict(conn.execute(sql, (since_hour, until_hour)).fetchall())


def read_target_hourly(conn: sqlite3.Connection, target: str, since_hour: int,
                       until_hour: int) -> list[tuple]:
    """TARGET_HOURLY_COLUMNS of one target's rollups in [since_hour, until_hour], in primary-key
    order (region, probe, hour): one contiguous range of the table."""
    sql = (f"SELECT {', '.join(TARGET_HOURLY_COLUMNS)} FROM hourly WHERE target = ? "
           "AND hour_ts >= ? AND hour_ts <= ? ORDER BY region, probe, hour_ts")
    return conn.execute(sql, (target, since_hour, until_hour)).fetchall()


def store_signals(conn: sqlite3.Connection, signals: list[Signal]) -> int:
    """Insert signals not stored yet (a rebuild of the same round adds nothing)."""
    rows = [(g.type, g.target, g.region, g.probe, g.ts, g.value, g.threshold, g.severity,
             g.scope, json.dumps(list(g.regions)), g.description, _signal_detail(g))
            for g in signals]
    before = conn.total_changes
    with transaction(conn):
        conn.executemany("INSERT OR IGNORE INTO signal_rounds_v1 VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    return conn.total_changes - before


def read_signals(conn: sqlite3.Connection, since_ts: int, until_ts: int) -> list[Signal]:
    """Stored signals fired in [since_ts, until_ts], newest first."""
    sql = ("SELECT type, target, region, probe, ts, value, threshold, severity, scope, regions, "
           "description, detail FROM signal_rounds_v1 WHERE ts >= ? AND ts <= ? "
           "ORDER BY ts DESC, type, target, probe, region")
    out = []
    for *head, regions, text, detail in conn.execute(sql, (since_ts, until_ts)):
        route = json.loads(detail) if detail else {}
        old, new = route.get("old_hops"), route.get("new_hops")
        out.append(Signal(*head, tuple(json.loads(regions)), text,
                          None if old is None else tuple(old), None if new is None else tuple(new),
                          route.get("old_fingerprint"), route.get("new_fingerprint")))
    return out


def _signal_detail(g: Signal) -> str | None:
    if g.old_hops is None and g.new_hops is None:
        return None
    return json.dumps({"old_hops": list(g.old_hops or ()), "new_hops": list(g.new_hops or ()),
                       "old_fingerprint": g.old_fingerprint, "new_fingerprint": g.new_fingerprint})
