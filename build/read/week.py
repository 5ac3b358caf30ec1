"""The 7 d of icmp and tcp hourly medians (colocation advice ranks regions over them), carried
between builds in the build state (build/read/state.py): complete hours are kept as numpy
columns; a build reads the hours after the previous build's last complete hour for every
target, and the whole week of targets whose results were stored late (a rowid range). It reads
the week whole without a usable state or when rollups of the week were deleted."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from build.compute.colocation import PROBES
from build.read.codes import join_codes
from build.read.queries import (count_hours, read_dirty_hour, read_hours, read_late_targets,
                                read_target_hourly, select_hours)
from build.read.state import Checkpoint, Part
from build.compute.series import Key

HOUR_S = 3600
CHUNK_ROWS = 20_000
_VALUES = ("median_ms",)  # float64, NaN = NULL: colocation ranks on medians alone


@dataclass(frozen=True, slots=True)
class HourlyColumns:
    """Rollups as columns: row i is keys[key_index[i]] at hour_ts[i]."""

    keys: list[Key]
    key_index: np.ndarray  # int32
    hour_ts: np.ndarray  # int64
    values: dict[str, np.ndarray]


def read_week_hourly(conn: sqlite3.Connection, since_hour: int, until_ts: int,
                     now: Checkpoint | None, before: Checkpoint | None,
                     carried: Part | None) -> tuple[HourlyColumns, Part]:
    """The rollups with since_hour <= hour_ts <= until_ts, and the week's part of the state
    (its complete hours)."""
    cols = None
    if now is not None and before is not None and carried is not None:
        cols = _carried(conn, since_hour, until_ts, before.rowid, carried)
    if cols is None:
        cols = _cursor_columns(select_hours(conn, since_hour - 1, until_ts, PROBES))
    complete = until_ts // HOUR_S * HOUR_S - HOUR_S
    dirty = read_dirty_hour(conn)  # a pending rollup is not carried: it will change
    complete = complete if dirty is None else min(complete, dirty - HOUR_S)
    # complete hours first (row order means nothing here), so the part is a view, not a copy
    cols = _take(cols, np.argsort(cols.hour_ts > complete, kind="stable"))
    n = int(np.count_nonzero(cols.hour_ts <= complete))
    return cols, _part(_take(cols, slice(0, n)), complete)


def _carried(conn: sqlite3.Connection, since_hour: int, until_ts: int, after_rowid: int,
             carried: Part) -> HourlyColumns | None:
    old = _unpack(carried)
    if old is None:
        return None
    complete = int(carried.meta["complete"])
    if complete < since_hour:
        return None
    in_week = old.hour_ts >= since_hour
    if int(in_week.sum()) != count_hours(conn, since_hour, complete, PROBES):
        return None
    late = read_late_targets(conn, after_rowid, complete + HOUR_S)
    late_keys = np.array([k[0] in late for k in old.keys] or [False])
    kept = _take(old, in_week & ~late_keys[old.key_index])
    rows = read_hours(conn, complete, until_ts)
    for target in sorted(late):
        rows += [(target, *r) for r in read_target_hourly(conn, target, since_hour, complete)]
    return _concat(kept, _columns([r for r in rows if r[2] in PROBES]))


def _cursor_columns(cursor: sqlite3.Cursor) -> HourlyColumns:
    """_columns of a cursor's rows, fetched chunk by chunk (Python row tuples cost ~6x the
    columns' memory)."""
    cols = _columns([])
    while rows := cursor.fetchmany(CHUNK_ROWS):
        cols = _concat(cols, _columns(rows))
    return cols


def _columns(rows: list[tuple]) -> HourlyColumns:
    """From (target, region, probe, hour_ts, median_ms, p95_ms, loss) rows."""
    keys: dict[Key, int] = {}
    index = [keys.setdefault(r[:3], len(keys)) for r in rows]
    cols = list(zip(*rows)) or [()] * 7
    return HourlyColumns(list(keys), np.array(index, dtype=np.int32),
                         np.array(cols[3], dtype=np.int64),
                         {"median_ms": np.array(cols[4], dtype=float)})


def _take(c: HourlyColumns, rows: np.ndarray | slice) -> HourlyColumns:
    return HourlyColumns(c.keys, c.key_index[rows], c.hour_ts[rows],
                         {n: v[rows] for n, v in c.values.items()})


def _concat(a: HourlyColumns, b: HourlyColumns) -> HourlyColumns:
    keys, key_index = join_codes([(a.keys, a.key_index), (b.keys, b.key_index)])
    return HourlyColumns(list(keys), key_index, np.concatenate([a.hour_ts, b.hour_ts]),
                         {n: np.concatenate([a.values[n], b.values[n]]) for n in _VALUES})


def _unpack(part: Part) -> HourlyColumns | None:
    try:
        a = part.arrays
        return HourlyColumns([tuple(k) for k in part.meta["keys"]], a["key_index"],
                             a["hour_ts"], {n: a[n] for n in _VALUES})
    except (KeyError, TypeError, ValueError):
        return None


def _part(c: HourlyColumns, complete: int) -> Part:
    return Part({"complete": complete, "keys": [list(k) for k in c.keys]},
                {"key_index": c.key_index, "hour_ts": c.hour_ts, **c.values})
