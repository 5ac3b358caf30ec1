"""Hourly rollups per (target, region, probe, hour), so 30- and 90-day history never scans
raw rows.

An hour's median, p95, min and max are over all received samples of its results; loss is lost
samples over sent samples; count is the number of results (rounds) in the hour.

A write marks its (region, hour) pairs dirty in `hourly_dirty`, inside its own transaction;
refresh_dirty recomputes every dirty hour from `results` in one pass and clears the marks. The
ingest writer refreshes coalesced (when idle, at most every FLUSH_EVERY_S), so an hour is
recomputed about once per flush instead of once per batch; a crash leaves the marks, and the
next writer, backup or prune refreshes them.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

import orjson

from collect.records import _quantile as quantile

HOUR_S = 3600
Key = tuple[str, str, str, int]  # target, region, probe, hour_ts

_MARK = "INSERT OR IGNORE INTO hourly_dirty (region, hour_ts) VALUES (?, ?)"
# One results_region range per dirty hour; CROSS JOIN keeps that order (the planner, without
# statistics, would otherwise scan all of results).
_SELECT = """SELECT r.target, r.region, r.probe, d.hour_ts, r.ok, r.samples_ms
    FROM hourly_dirty d CROSS JOIN results r
      ON r.round_ts >= d.hour_ts AND r.round_ts < d.hour_ts + 3600 AND r.region = d.region"""
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
    sent: int = 0
    received: list[float] = field(default_factory=list)

    def fold(self, ok: int, samples: list) -> None:
        self.count += 1
        self.ok_count += ok
        self.sent += len(samples)
        self.received.extend(s for s in samples if s is not None)


def hourly_row(key: Key, hour: HourSamples) -> tuple:
    """The hourly table's row: median and p95 interpolate as records.sample_stats does."""
    loss = 1.0 if hour.sent == 0 else 1.0 - len(hour.received) / hour.sent
    if not hour.received:
        return (*key, hour.count, hour.ok_count, None, None, None, None, round(loss, 4))
    s = sorted(hour.received)
    return (*key, hour.count, hour.ok_count, quantile(s, 0.5), quantile(s, 0.95), s[0], s[-1],
            round(loss, 4))


def fold_rows(rows: list[tuple]) -> dict[Key, HourSamples]:
    """(target, region, probe, hour_ts, ok, samples_ms JSON) rows folded per hour key."""
    samples = orjson.loads("[" + ",".join(r[5] for r in rows) + "]")  # one parse for all
    hours: dict[Key, HourSamples] = {}
    for row, parsed in zip(rows, samples):
        key = row[:4]
        hour = hours.get(key)
        if hour is None:
            hour = hours[key] = HourSamples()
        hour.fold(row[4], parsed)
    return hours


def mark_dirty(conn: sqlite3.Connection, rows: list[tuple]) -> None:
    """Mark the (region, hour) of validated results rows (validate.COLUMNS order) for a
    refresh; call inside the transaction that stores them."""
    conn.executemany(_MARK, {(r[1], int(r[3] // HOUR_S * HOUR_S)) for r in rows})


def refresh_dirty(conn: sqlite3.Connection) -> int:
    """Recompute the hourly rows of every dirty hour and clear the marks, inside the caller's
    transaction. Returns hourly rows written."""
    hours = fold_rows(conn.execute(_SELECT).fetchall())
    conn.executemany(_UPSERT, [hourly_row(k, h) for k, h in hours.items()])
    conn.execute("DELETE FROM hourly_dirty")
    return len(hours)


def flush_rollups(conn: sqlite3.Connection) -> int:
    """refresh_dirty in its own BEGIN IMMEDIATE transaction; a no-op when nothing is dirty."""
    if conn.execute("SELECT 1 FROM hourly_dirty LIMIT 1").fetchone() is None:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        written = refresh_dirty(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return written
