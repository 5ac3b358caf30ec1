"""The central writer: validated result rows into `results` and their hourly rollups, one
`BEGIN IMMEDIATE` transaction per batch, so a rejected or failed batch writes nothing."""
from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from collect.rollup import hour_of, refresh_hourly
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
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.total_changes
        conn.executemany(_INSERT, _with_received(rows, received_at))
        stored = conn.total_changes - before
        if stored:
            refresh_hourly(conn, touched_hours(rows))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return stored, len(rows) - stored


def touched_hours(rows: Iterable[tuple]) -> set[tuple[str, str, str, int]]:
    return {(r[0], r[1], r[2], hour_of(r[3])) for r in rows}


def _with_received(rows: list[tuple], received_at: float) -> Iterable[tuple]:
    return (row + (received_at,) for row in rows)
