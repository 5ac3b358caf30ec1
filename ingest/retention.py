"""Retention: raw results for RAW_DAYS, hourly rollups for HOURLY_DAYS, deleted in small
transactions so readers and the ingest writer never wait long."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from db.connection import transaction
from ingest.rollup import flush_rollups, hour_of

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Retention:
    raw_days: float = 7.0
    hourly_days: float = 90.0
    chunk_rows: int = 2_000  # rows per transaction


_RAW = ("DELETE FROM results WHERE rowid IN "
        "(SELECT rowid FROM results WHERE round_ts < ? LIMIT ?)")
_HOURLY = ("DELETE FROM hourly WHERE (target, region, probe, hour_ts) IN "
           "(SELECT target, region, probe, hour_ts FROM hourly WHERE hour_ts < ? LIMIT ?)")


def prune(conn: sqlite3.Connection, now: float, policy: Retention) -> tuple[int, int]:
    """Delete raw rows older than raw_days and hourly rows older than hourly_days (unix s
    cutoffs from now). Returns (raw_deleted, hourly_deleted)."""
    flush_rollups(conn)  # an hour's rollup is complete before its raw rows go
    # Whole hours only, so a late result never re-rolls an hour from half of its raw rows.
    raw_cutoff = hour_of(now - policy.raw_days * DAY_S)
    raw = _delete_in_chunks(conn, _RAW, raw_cutoff, policy.chunk_rows)
    hourly = _delete_in_chunks(conn, _HOURLY, now - policy.hourly_days * DAY_S, policy.chunk_rows)
    return raw, hourly


def _delete_in_chunks(conn: sqlite3.Connection, sql: str, cutoff: float, chunk: int) -> int:
    total = 0
    while True:
        with transaction(conn):
            deleted = conn.execute(sql, (cutoff, chunk)).rowcount
        total += deleted
        if deleted < chunk:
            return total
