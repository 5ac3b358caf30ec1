"""Hourly rollups per (target, region, probe, hour), kept current inside each write
transaction, so 30- and 90-day history never scans raw rows.

An hour's median, p95, min and max are over all received samples of its results; loss is lost
samples over sent samples; count is the number of results (rounds) in the hour. A RollupCache
keeps recent hours' samples in memory so a batch folds in its new rows instead of re-reading
the hour; it is dropped whenever another connection has written (PRAGMA data_version).
"""
from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass, field

from collect.records import _quantile as quantile
from collect.validate import COLUMNS

HOUR_S = 3600
MAX_CACHED_HOURS = 50_000
Key = tuple[str, str, str, int]  # target, region, probe, hour_ts
OK, SAMPLES = COLUMNS.index("ok"), COLUMNS.index("samples_ms")

_TOUCHED = """CREATE TEMP TABLE IF NOT EXISTS touched_hours (
    target TEXT NOT NULL, region TEXT NOT NULL, probe TEXT NOT NULL, hour_ts INTEGER NOT NULL)"""
_SELECT = """SELECT t.target, t.region, t.probe, t.hour_ts, r.ok, r.samples_ms
    FROM touched_hours t JOIN results r
      ON r.target = t.target AND r.region = t.region AND r.probe = t.probe
     AND r.round_ts >= t.hour_ts AND r.round_ts < t.hour_ts + 3600"""
# An in-place update leaves the hour_ts index alone (INSERT OR REPLACE would rewrite it).
_UPSERT = """INSERT INTO hourly
    (target, region, probe, hour_ts, count, ok_count, median_ms, p95_ms, min_ms, max_ms, loss)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO UPDATE SET count = excluded.count, ok_count = excluded.ok_count,
        median_ms = excluded.median_ms, p95_ms = excluded.p95_ms, min_ms = excluded.min_ms,
        max_ms = excluded.max_ms, loss = excluded.loss"""


def hour_of(unix_s: float) -> int:
    return int(unix_s // HOUR_S * HOUR_S)


def key_of(row: tuple) -> Key:
    """The hour key of a validated results row (validate.COLUMNS order)."""
    return row[0], row[1], row[2], int(row[3] // HOUR_S * HOUR_S)


@dataclass(slots=True)
class HourSamples:
    """Everything an hourly row is computed from (mutable: rows fold in as they arrive)."""
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


def load_hours(conn: sqlite3.Connection, keys: set[Key]) -> dict[Key, HourSamples]:
    """The hours of keys as stored in `results` (inside the caller's transaction)."""
    if not keys:
        return {}
    conn.execute(_TOUCHED)
    conn.execute("DELETE FROM touched_hours")
    conn.executemany("INSERT INTO touched_hours VALUES (?, ?, ?, ?)", keys)
    found = conn.execute(_SELECT).fetchall()
    samples = json.loads("[" + ",".join(r[5] for r in found) + "]")  # one parse for all rows
    hours = {k: HourSamples() for k in keys}
    for row, parsed in zip(found, samples):
        hours[row[:4]].fold(row[4], parsed)
    return hours


class RollupCache:
    """Recent hours' samples of one writer connection."""

    def __init__(self, max_hours: int = MAX_CACHED_HOURS):
        self.hours: OrderedDict[Key, HourSamples] = OrderedDict()
        self.max_hours = max_hours
        self.data_version: int | None = None

    def check(self, conn: sqlite3.Connection) -> None:
        """Forget everything if another connection wrote since our last commit."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        if version != self.data_version:
            self.hours.clear()
            self.data_version = version

    def refresh(self, conn: sqlite3.Connection, new_rows: list[tuple], stale: set[Key]) -> int:
        """Rewrite the hourly rows touched by new_rows (all just inserted) and stale (keys whose
        batch held duplicates, reloaded from `results`). Returns hourly rows written."""
        keyed = [(key_of(r), r) for r in new_rows]
        keys = {k for k, _ in keyed} | stale
        loaded = load_hours(conn, {k for k in keys if k not in self.hours} | stale)
        fresh = [(k, r) for k, r in keyed if k not in loaded]
        parsed = json.loads("[" + ",".join(r[SAMPLES] for _, r in fresh) + "]")
        for (key, row), samples in zip(fresh, parsed):
            self.hours[key].fold(row[OK], samples)
        self.hours.update(loaded)
        for key in keys:
            self.hours.move_to_end(key)
        while len(self.hours) > self.max_hours:
            self.hours.popitem(last=False)
        conn.executemany(_UPSERT, [hourly_row(k, self.hours[k]) for k in keys])
        return len(keys)
