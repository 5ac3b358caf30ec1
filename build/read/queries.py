"""All SQL of the build, as `fn(conn, ...)` functions (but the raw window's, which
build/read/window.py reads incrementally). Everything reads, but store_events (the write
stage's)."""
from __future__ import annotations

import json
import sqlite3

import numpy as np

from build.compute.detector_input import HourValues
from build.compute.events import Event
from db.connection import transaction

_BATCH = 300  # keys per query (SQLite allows 32766 parameters)
HOURLY_COLUMNS = ("target", "region", "probe", "hour_ts", "median_ms", "p95_ms", "loss")
TARGET_HOURLY_COLUMNS = HOURLY_COLUMNS[1:]


def extras_sql(conn: sqlite3.Connection) -> dict[str, str]:
    """SQL of a result's sample count and trace fingerprint (`sent`, `fingerprint`): their
    columns, with the JSON they repeat for rows stored before schema 8 (NULL there); the JSON
    alone in a database not migrated yet, which a read-only reader never does."""
    if any(row[1] == "sent" for row in conn.execute("PRAGMA table_info(results)")):
        return {"sent": "coalesce(sent, json_array_length(samples_ms))",
                "fingerprint": "coalesce(fingerprint, json_extract(detail, '$.fingerprint'))"}
    return {"sent": "json_array_length(samples_ms)",
            "fingerprint": "json_extract(detail, '$.fingerprint')"}


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
    key ({} when it has none): one query per distinct round, over the unique key's round_ts
    prefix (most pairs' latest trace is the same round)."""
    out: dict[tuple[str, str, int], dict] = {}
    keys = set(wanted)
    sql = ("SELECT target, region, round_ts, detail FROM results "
           "WHERE round_ts = ? AND probe = 'trace'")
    for round_ts in sorted({k[2] for k in keys}):
        for target, region, _, detail in conn.execute(sql, (round_ts,)):
            if (target, region, round_ts) in keys:
                out[(target, region, round_ts)] = json.loads(detail) if detail else {}
    return out


def read_hour_values(conn: sqlite3.Connection, hours: list[int]) -> HourValues:
    """The rollups (median_ms, loss) at the given hours, as columns."""
    keys: dict[tuple[str, str, str], int] = {}
    rows: list[tuple] = []
    for start in range(0, len(hours), _BATCH):
        chunk = hours[start:start + _BATCH]
        sql = ("SELECT target, region, probe, hour_ts, median_ms, loss FROM hourly "
               f"WHERE hour_ts IN ({', '.join('?' * len(chunk))})")
        for target, region, probe, hour, median, loss in conn.execute(sql, chunk):
            rows.append((keys.setdefault((target, region, probe), len(keys)), hour,
                         np.nan if median is None else median, loss))
    cols = list(zip(*rows)) or [()] * 4
    return HourValues(tuple(keys), np.array(cols[0], dtype=np.int64),
                      np.array(cols[1], dtype=np.int64), np.array(cols[2], dtype=float),
                      np.array(cols[3], dtype=float))


def read_hops(conn: sqlite3.Connection, rowids: dict[str, int]) -> dict[str, tuple[str, ...]]:
    """The responding hop addresses ('*' silent) of each fingerprint, from the trace result
    with the given rowid."""
    out: dict[str, tuple[str, ...]] = {}
    items = sorted(rowids.items())
    for start in range(0, len(items), _BATCH):
        chunk = dict(items[start:start + _BATCH])
        by_rowid = {r: f for f, r in chunk.items()}
        sql = (f"SELECT rowid, detail FROM results WHERE rowid IN "
               f"({', '.join('?' * len(chunk))})")
        for rowid, detail in conn.execute(sql, list(chunk.values())):
            hops = json.loads(detail).get("hops", ()) if detail else ()
            out[by_rowid[rowid]] = tuple(h.get("address") or "*" for h in hops)
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


def read_late_hours(conn: sqlite3.Connection, after_rowid: int, before_ts: int) -> set[int]:
    """The hours of results stored after after_rowid for rounds before before_ts (their hourly
    rollups changed). A rowid range: only the new rows are read."""
    sql = ("SELECT DISTINCT round_ts - round_ts % 3600 FROM results NOT INDEXED "
           "WHERE rowid > ? AND round_ts < ?")
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


def select_hours(conn: sqlite3.Connection, after_hour: int, until_hour: int,
                 probes: tuple[str, ...]) -> sqlite3.Cursor:
    """read_hours' rows of the given probes in no particular order, as a cursor to fetch in
    chunks (a week of rollups is ~350k rows; unsorted, SQLite walks the hour index without a
    temporary b-tree)."""
    sql = (f"SELECT target, {', '.join(TARGET_HOURLY_COLUMNS)} FROM hourly "
           f"WHERE hour_ts > ? AND hour_ts <= ? AND probe IN ({', '.join('?' * len(probes))})")
    return conn.execute(sql, (after_hour, until_hour, *probes))


def count_hours(conn: sqlite3.Connection, since_hour: int, until_hour: int,
                probes: tuple[str, ...]) -> int:
    """Rollups of the given probes with since_hour <= hour_ts <= until_hour."""
    sql = ("SELECT count(*) FROM hourly WHERE hour_ts >= ? AND hour_ts <= ? "
           f"AND probe IN ({', '.join('?' * len(probes))})")
    return conn.execute(sql, (since_hour, until_hour, *probes)).fetchone()[0]


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


def read_series_hours(conn: sqlite3.Connection, target: str, region: str, probe: str,
                      since_hour: int, until_hour: int) -> list[tuple]:
    """(hour_ts, median_ms, ok_count, count) of one series' rollups in [since_hour,
    until_hour], by hour: one contiguous range of the primary key."""
    sql = ("SELECT hour_ts, median_ms, ok_count, count FROM hourly WHERE target = ? AND "
           "region = ? AND probe = ? AND hour_ts >= ? AND hour_ts <= ? ORDER BY hour_ts")
    return conn.execute(sql, (target, region, probe, since_hour, until_hour)).fetchall()


def read_counted_hours(conn: sqlite3.Connection, after_hour: int, until_hour: int,
                       probes: tuple[str, ...]) -> list[tuple]:
    """(target, region, probe, hour_ts, median_ms, ok_count, count) of the given probes'
    rollups with after_hour < hour_ts <= until_hour (a build's new hours: a few thousand)."""
    sql = ("SELECT target, region, probe, hour_ts, median_ms, ok_count, count FROM hourly "
           f"WHERE hour_ts > ? AND hour_ts <= ? AND probe IN ({', '.join('?' * len(probes))})")
    return conn.execute(sql, (after_hour, until_hour, *probes)).fetchall()


_EVENT_COLUMNS = ("id", "type", "target", "region", "regions", "scope", "probe", "started_at",
                  "ended_at", "status", "before_ms", "during_ms", "peak_z", "severity",
                  "description", "detail", "updated_at", "in_session")


def read_events(conn: sqlite3.Connection, since_ts: int) -> list[Event]:
    """Stored events still open or started at or after since_ts, newest onset first."""
    sql = (f"SELECT {', '.join(_EVENT_COLUMNS)} FROM signals WHERE status = 'open' "
           "OR started_at >= ? ORDER BY started_at DESC, type, target, probe, region")
    return [_event(row) for row in conn.execute(sql, (since_ts,))]


def read_last_event_round(conn: sqlite3.Connection) -> int | None:
    """The newest round any stored event changed on (a lower bound of the last judged)."""
    return conn.execute("SELECT max(updated_at) FROM signals").fetchone()[0]


def store_events(conn: sqlite3.Connection, events: list[Event],
                 transitions: list[tuple[str, str, int]]) -> int:
    """Insert or update events by id, and log (id, opened|resolved, round_ts) transitions once
    each; a resolved event is never reopened (a rebuild judging a round again cannot undo its
    end). Returns the number of transitions logged."""
    cols = ", ".join(_EVENT_COLUMNS)
    marks = ", ".join("?" * len(_EVENT_COLUMNS))
    updates = ", ".join(f"{c} = excluded.{c}" for c in _EVENT_COLUMNS[1:])
    with transaction(conn):
        conn.executemany(f"INSERT INTO signals ({cols}) VALUES ({marks}) ON CONFLICT (id) DO "
                         f"UPDATE SET {updates} WHERE signals.status = 'open'",
                         [_event_row(e) for e in events])
        before = conn.total_changes
        conn.executemany("INSERT OR IGNORE INTO signal_transitions (signal_id, kind, round_ts) "
                         "VALUES (?, ?, ?)", transitions)
        return conn.total_changes - before


def _event_row(e: Event) -> tuple:
    return (e.id, e.type, e.target, e.region, json.dumps(list(e.regions)), e.scope, e.probe,
            e.started_at, e.ended_at, e.status, e.before_ms, e.during_ms, e.peak_z, e.severity,
            e.description, None if e.detail is None else json.dumps(e.detail, sort_keys=True),
            e.updated_at, int(e.in_session))


def _event(row: tuple) -> Event:
    (id_, type_, target, region, regions, scope, probe, started, ended, status, before, during,
     peak, severity, text, detail, updated, in_session) = row
    return Event(id_, type_, target, region, tuple(json.loads(regions)), scope, probe, started,
                 ended, status, before, during, peak, severity, text,
                 None if detail is None else json.loads(detail), updated, bool(in_session))