"""The 24 h window of raw results, carried between builds under the cache folder: a build reads
only the rows stored since the previous one (a rowid range) and drops rounds that left the
window. It falls back to reading the whole window when the database is not the one the state
came from, or when rows of the window were deleted (the count of the window's rows differs)."""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np

from build.read.queries import read_last_row, read_row_identity
from build.read.window_rows import (NUMBERS, RecentWindow, WindowRows, compute_recent_window,
                               merge_columns, rows_to_columns)

STATE_VERSION = 1
_FILE = "window.npz"
_SELECT = ("SELECT rowid, target, region, probe, round_ts, ts, ok, "
           f"{', '.join(NUMBERS)}, error, CASE probe "
           "WHEN 'trace' THEN json_extract(detail, '$.fingerprint') "
           "WHEN 'tls' THEN detail END FROM results ")


def read_recent_window(conn: sqlite3.Connection, since_ts: int, until_ts: int,
                       cache_dir: Path | None) -> RecentWindow:
    """Rows with round_ts > since_ts; rounds after until_ts or probes started after their slot
    are counted as skewed (window_rows)."""
    last = read_last_row(conn)
    if last is None:
        return compute_recent_window(rows_to_columns([]), since_ts, until_ts)
    rows = _carried(conn, cache_dir, since_ts, last[0]) if cache_dir is not None else None
    if rows is None:  # +rowid: read the window's round_ts range, not every rowid up to last
        rows = rows_to_columns(conn.execute(
            _SELECT + "WHERE round_ts > ? AND +rowid <= ?", (since_ts, last[0])).fetchall())
    if cache_dir is not None:
        _save(Path(cache_dir) / _FILE, rows, last)
    return compute_recent_window(rows, since_ts, until_ts)


def _carried(conn: sqlite3.Connection, cache_dir: Path, since_ts: int,
             upto_rowid: int) -> WindowRows | None:
    state = _load(Path(cache_dir) / _FILE)
    if state is None:
        return None
    old, (rowid, identity) = state
    if rowid > upto_rowid or read_row_identity(conn, rowid) != identity:
        return None
    new = rows_to_columns(conn.execute(_SELECT + "WHERE rowid > ? AND rowid <= ?",
                                       (rowid, upto_rowid)).fetchall())
    rows = merge_columns(old, new, since_ts)
    stored = conn.execute("SELECT count(*) FROM results WHERE round_ts > ? AND +rowid <= ?",
                          (since_ts, upto_rowid)).fetchone()[0]
    return rows if stored == rows.rowid.size else None


def _load(path: Path) -> tuple[WindowRows, tuple[int, str]] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(f["meta"].tobytes())
            if meta.get("version") != STATE_VERSION:
                return None
            rows = WindowRows(tuple(tuple(k) for k in meta["keys"]), f["rowid"], f["key_index"],
                              f["round_ts"], f["ts"], f["ok"], {n: f[n] for n in NUMBERS},
                              {int(r): e for r, e in meta["errors"]},
                              {int(r): x for r, x in meta["extras"]})
            return rows, (int(meta["last"][0]), str(meta["last"][1]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(path: Path, rows: WindowRows, last: tuple[int, str]) -> None:
    meta = {"version": STATE_VERSION, "last": list(last), "keys": [list(k) for k in rows.keys],
            "errors": list(rows.errors.items()), "extras": list(rows.extras.items())}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.npz"
    np.savez(tmp, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             rowid=rows.rowid, key_index=rows.key_index, round_ts=rows.round_ts, ts=rows.ts,
             ok=rows.ok, **rows.numbers)
    os.replace(tmp, path)
