"""Hourly rollups per (target, region, probe, hour): recomputed from the raw rows of each hour a
batch touched, inside the batch's transaction, so history never scans raw rows.

An hour's median, p95, min and max are over all received samples of its results; loss is lost
samples over sent samples; count is the number of results (rounds) in the hour.
"""
from __future__ import annotations

import json
import sqlite3
from collections import defaultdict

from collect.records import sample_stats

HOUR_S = 3600

_TOUCHED = """CREATE TEMP TABLE IF NOT EXISTS touched_hours (
    target TEXT NOT NULL, region TEXT NOT NULL, probe TEXT NOT NULL, hour_ts INTEGER NOT NULL)"""
_SELECT = """SELECT t.target, t.region, t.probe, t.hour_ts, r.ok, r.samples_ms
    FROM touched_hours t JOIN results r
      ON r.target = t.target AND r.region = t.region AND r.probe = t.probe
     AND r.round_ts >= t.hour_ts AND r.round_ts < t.hour_ts + 3600"""
_UPSERT = """INSERT OR REPLACE INTO hourly
    (target, region, probe, hour_ts, count, ok_count, median_ms, p95_ms, min_ms, max_ms, loss)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""


def hour_of(unix_s: float) -> int:
    return int(unix_s // HOUR_S * HOUR_S)


def refresh_hourly(conn: sqlite3.Connection, keys: set[tuple[str, str, str, int]]) -> int:
    """Recompute the hourly rows of keys (target, region, probe, hour_ts) from `results`.
    Call inside the writer's transaction. Returns the number of hourly rows written."""
    conn.execute(_TOUCHED)
    conn.execute("DELETE FROM touched_hours")
    conn.executemany("INSERT INTO touched_hours VALUES (?, ?, ?, ?)", keys)
    groups: dict[tuple, list] = defaultdict(list)
    for target, region, probe, hour_ts, ok, samples in conn.execute(_SELECT):
        groups[(target, region, probe, hour_ts)].append((ok, samples))
    conn.executemany(_UPSERT, [compute_hour(key, rows) for key, rows in groups.items()])
    return len(groups)


def compute_hour(key: tuple, rows: list[tuple[int, str]]) -> tuple:
    """One hourly row from the (ok, samples_ms JSON) of the hour's results."""
    sent = received = 0
    values: list[float] = []
    for _ok, samples in rows:
        parsed = json.loads(samples)
        sent += len(parsed)
        values.extend(s for s in parsed if s is not None)
    received = len(values)
    stats = sample_stats(values)
    loss = 1.0 if sent == 0 else 1.0 - received / sent
    ok_count = sum(ok for ok, _ in rows)
    return (*key, len(rows), ok_count, stats["rtt_ms"], stats["p95_ms"], stats["min_ms"],
            stats["max_ms"], round(loss, 4))
