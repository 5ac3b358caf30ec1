"""The 24 h window of raw results, carried between builds in the build state (build/read/
state.py): a build reads only the rows stored since the previous checkpoint (a rowid range) and
drops rounds that left the window. It reads the whole window when there is no usable state, or
when rows of the window were deleted (the count of the window's rows differs)."""
from __future__ import annotations

import sqlite3

from build.read.queries import extras_sql
from build.read.state import Checkpoint, Part
from build.read.window_rows import (NUMBERS, RecentWindow, WindowRows, compute_recent_window,
                                    cursor_to_columns, merge_columns, rows_to_columns)

_SELECT = ("SELECT rowid, target, region, probe, round_ts, ts, ok, {sent}, "
           f"{', '.join(NUMBERS)}, error, CASE probe WHEN 'trace' THEN {{fingerprint}} "
           "WHEN 'tls' THEN detail END FROM results ")
_COLUMNS = ("rowid", "key_index", "round_ts", "ts", "ok", "samples")  # WindowRows' order


def read_recent_window(conn: sqlite3.Connection, since_ts: int, until_ts: int,
                       now: Checkpoint | None, before: Checkpoint | None,
                       carried: Part | None) -> tuple[RecentWindow, Part]:
    """Rows with round_ts > since_ts stored up to checkpoint now; carried holds the window as
    the build at checkpoint before saw it. Rounds after until_ts or probes started after their
    slot are counted as skewed (window_rows). Returns the window and its part of the state."""
    rows = rows_to_columns([]) if now is None else None
    if rows is None and before is not None and carried is not None:
        rows = _carried(conn, since_ts, before.rowid, now.rowid, _unpack(carried))
    if rows is None:  # +rowid: read the window's round_ts range, not every rowid up to now
        rows = cursor_to_columns(conn.execute(
            _select(conn) + "WHERE round_ts > ? AND +rowid <= ?", (since_ts, now.rowid)))
    return compute_recent_window(rows, since_ts, until_ts), _part(rows)


def _carried(conn: sqlite3.Connection, since_ts: int, after_rowid: int, upto_rowid: int,
             old: WindowRows | None) -> WindowRows | None:
    if old is None or after_rowid > upto_rowid:
        return None
    new = cursor_to_columns(conn.execute(_select(conn) + "WHERE rowid > ? AND rowid <= ?",
                                         (after_rowid, upto_rowid)))
    rows = merge_columns(old, new, since_ts)
    stored = conn.execute("SELECT count(*) FROM results WHERE round_ts > ? AND +rowid <= ?",
                          (since_ts, upto_rowid)).fetchone()[0]
    return rows if stored == rows.rowid.size else None


def _select(conn: sqlite3.Connection) -> str:
    return _SELECT.format(**extras_sql(conn))


def _unpack(part: Part) -> WindowRows | None:
    try:
        a, meta = part.arrays, part.meta
        return WindowRows(tuple(tuple(k) for k in meta["keys"]), tuple(meta["texts"]),
                          *(a[c] for c in _COLUMNS), {n: a[n] for n in NUMBERS}, a["error"],
                          a["extra"])
    except (KeyError, TypeError, ValueError):
        return None


def _part(rows: WindowRows) -> Part:
    return Part({"keys": [list(k) for k in rows.keys], "texts": list(rows.texts)},
                {**{c: getattr(rows, c) for c in _COLUMNS}, **rows.numbers, "error": rows.error,
                 "extra": rows.extra})
