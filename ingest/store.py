"""The central writer: validated result rows into `results`, one `BEGIN IMMEDIATE` transaction
per call, so a rejected or failed batch writes nothing. The call marks the hours it touched
for a rollup refresh (ingest/rollup.py) in the same transaction."""
from __future__ import annotations

import sqlite3
import time

from collect.records import COLUMNS
from db.connection import transaction
from ingest.live_rollups import LiveRollups
from ingest.rollup import mark_dirty, refresh_dirty
from ingest.validate import validate_record

_INSERT = (f"INSERT OR IGNORE INTO results ({', '.join(COLUMNS)}, received_at) "
           f"VALUES ({', '.join('?' * (len(COLUMNS) + 1))})")


def store_batch(conn: sqlite3.Connection, records: list[dict],
                received_at: float | None = None) -> tuple[int, int]:
    """Validate result dicts (ProbeResult.to_json() form) and store them.
    Returns (stored, duplicates); raises ValidationError (nothing written) on a bad record."""
    rounds: dict[str, int] = {}
    rows = [validate_record(r, None, f"[{i}]", rounds) for i, r in enumerate(records)]
    return store_rows(conn, rows, time.time() if received_at is None else received_at)


def store_rows(conn: sqlite3.Connection, rows: list[tuple], received_at: float) -> tuple[int, int]:
    """Insert validated rows (records.COLUMNS order) with their hourly rollups refreshed in
    the same transaction. A row whose (target, region, probe, round) is already stored counts
    as a duplicate: the first copy wins. Returns (stored, duplicates)."""
    return store_batches(conn, [rows], received_at, refresh=True)[0]


def store_batches(conn: sqlite3.Connection, batches: list[list[tuple]], received_at: float,
                  refresh: bool, live: LiveRollups | None = None) -> list[tuple[int, int]]:
    """Several batches in one transaction (group commit); (stored, duplicates) of each.
    refresh=False leaves the touched hours marked for the caller's coalesced rollup flush;
    live, the writer's in-memory folds, is fed what was stored."""
    counts = []
    try:
        with transaction(conn):
            if live is not None:
                live.begin(conn)
            for rows in batches:
                before = conn.total_changes
                conn.executemany(_INSERT, [row + (received_at,) for row in rows])
                stored = conn.total_changes - before
                counts.append((stored, len(rows) - stored))
                if stored:
                    mark_dirty(conn, rows)
                if live is not None:
                    live.stored(conn, rows, stored)
            if refresh:
                refresh_dirty(conn, live)
    except BaseException:
        if live is not None:
            live.clear()
        raise
    return counts
