"""The central writer: validated result rows into `results` and their hourly rollups, one
`BEGIN IMMEDIATE` transaction per call, so a rejected or failed batch writes nothing."""
from __future__ import annotations

import sqlite3
import time

from collect.rollup import RollupCache, key_of
from collect.validate import COLUMNS, validate_record

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
    """Insert validated rows (validate.COLUMNS order) and refresh the touched hours.
    A row whose (target, region, probe, round) is already stored counts as a duplicate:
    the first copy wins. Returns (stored, duplicates)."""
    return store_batches(conn, [rows], received_at, RollupCache())[0]


def store_batches(conn: sqlite3.Connection, batches: list[list[tuple]], received_at: float,
                  rollup: RollupCache) -> list[tuple[int, int]]:
    """Several batches in one transaction (group commit); (stored, duplicates) of each.
    rollup is the writer connection's cache, cleared if the transaction fails."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        rollup.check(conn)
        counts, new_rows, stale = [], [], set()
        for rows in batches:
            before = conn.total_changes
            conn.executemany(_INSERT, [row + (received_at,) for row in rows])
            stored = conn.total_changes - before
            counts.append((stored, len(rows) - stored))
            if stored == len(rows):
                new_rows.extend(rows)
            elif stored:
                stale.update(key_of(r) for r in rows)
        rollup.refresh(conn, new_rows, stale)
        conn.execute("COMMIT")
    except BaseException:
        rollup.hours.clear()
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    rollup.data_version = conn.execute("PRAGMA data_version").fetchone()[0]
    return counts
