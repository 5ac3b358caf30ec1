"""Hourly rollups per (target, region, probe, hour), so 30- and 90-day history never scans
raw rows.

An hour's median, p95, min and max are over all received samples of its results; loss is lost
samples over sent samples; count is the number of results (rounds) in the hour.

A write marks its (region, hour) pairs dirty in `hourly_dirty`, inside its own transaction;
refresh_dirty recomputes every dirty hour from `results` and clears the marks. The
ingest writer refreshes coalesced (when idle, at most every FLUSH_EVERY_S), so an hour is
recomputed about once per flush instead of once per batch; a crash leaves the marks, and the
next writer, backup or prune refreshes them.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import orjson

from collect.records import _quantile as quantile
from db.connection import transaction

HOUR_S = 3600
Key = tuple[str, str, str, int]  # target, region, probe, hour_ts

_MARK = "INSERT OR IGNORE INTO hourly_dirty (region, hour_ts) VALUES (?, ?)"
# One results_region range.
_HOUR_ROWS = ("SELECT target, region, probe, ?, ok, samples_ms FROM results "
              "WHERE region = ? AND round_ts >= ? AND round_ts < ?")
# An in-place update leaves the hour_ts index alone (INSERT OR REPLACE would rewrite it).
_UPSERT = """INSERT INTO hourly
    (target, region, probe, hour_ts, count, ok_count, median_ms, p95_ms, min_ms, max_ms, loss)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET count = excluded.count, ok_count = excluded.ok_count,
        median_ms = excluded.median_ms, p95_ms = excluded.p95_ms, min_ms = excluded.min_ms,
        max_ms = excluded.max_ms, loss = excluded.loss"""


def hour_of(unix_s: float) -> int:
    return int(unix_s // HOUR_S * HOUR_S)


@dataclass(slots=True)
class HourSamples:
    """Everything an hourly row is computed from (mutable: rows fold in as they are read)."""
    count: int = 0
    ok_count: int = 0
    samples: list[float | None] = field(default_factory=list)  # None: a lost sample


def hourly_row(key: Key, hour: HourSamples) -> tuple:
    """The hourly table's row: median and p95 interpolate as records.sample_stats does."""
    received = [s for s in hour.samples if s is not None]
    loss = 1.0 if not hour.samples else 1.0 - len(received) / len(hour.samples)
    if not received:
        return (*key, hour.count, hour.ok_count, None, None, None, None, round(loss, 4))
    received.sort()
    return (*key, hour.count, hour.ok_count, quantile(received, 0.5),
            quantile(received, 0.95), received[0], received[-1], round(loss, 4))


def fold_rows(rows: list[tuple],
              hours: dict[Key, HourSamples] | None = None) -> dict[Key, HourSamples]:
    """(target, region, probe, hour_ts, ok, samples_ms JSON) rows folded per hour key, into
    hours when given."""
    samples = orjson.loads("[" + ",".join(r[5] for r in rows) + "]")  # one parse for all
    hours = {} if hours is None else hours
    for row, parsed in zip(rows, samples):
        key = row[:4]
        hour = hours.get(key)
        if hour is None:
            hour = hours[key] = HourSamples()
        hour.count += 1  # inline, not a method: this runs for every stored result
        hour.ok_count += row[4]
        hour.samples.extend(parsed)
    return hours


def read_hour(conn: sqlite3.Connection, region: str, hour_ts: int) -> dict[Key, HourSamples]:
    """Every result of region's hour folded per hour key."""
    return fold_rows(conn.execute(_HOUR_ROWS, (hour_ts, region, hour_ts,
                                               hour_ts + HOUR_S)).fetchall())


def mark_dirty(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Mark the (region, hour) of validated results rows (records.COLUMNS order) for a
    refresh; call inside the transaction that stores them."""
    conn.executemany(_MARK, {(r[1], hour_of(r[3])) for r in rows})


def refresh_dirty(conn: sqlite3.Connection, live=None) -> int:
    """Recompute the hourly rows of every dirty hour and clear the marks, inside the caller's
    transaction; from the folds of live (a ingest.live_rollups.LiveRollups) when given.
    Returns hourly rows written."""
    dirty = conn.execute("SELECT region, hour_ts FROM hourly_dirty").fetchall()
    if live is None:
        rows = [hourly_row(k, h) for region, hour_ts in dirty
                for k, h in read_hour(conn, region, hour_ts).items()]
    else:
        rows = live.hourly_rows(conn, dirty)
    conn.executemany(_UPSERT, rows)
    conn.execute("DELETE FROM hourly_dirty")
    return len(rows)


def flush_rollups(conn: sqlite3.Connection, live=None) -> int:
    """refresh_dirty in its own BEGIN IMMEDIATE transaction; a no-op when nothing is dirty."""
    if conn.execute("SELECT 1 FROM hourly_dirty LIMIT 1").fetchone() is None:
        return 0
    try:
        with transaction(conn):
            if live is not None:
                live.begin(conn)
            return refresh_dirty(conn, live)
    except BaseException:
        if live is not None:
            live.clear()
        raise
