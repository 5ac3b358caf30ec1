"""The 7 d hourly series, carried between builds in the build state (build/read/state.py):
complete hours are kept as numpy columns; a build reads the hours after the previous build's
last complete hour for every target, and the whole week of targets whose results were stored
late (a rowid range). It reads the week whole without a usable state or when rollups of the
week were deleted."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from build.compute.model import Series
from build.read.queries import (read_dirty_hour, read_hours, read_late_targets, read_target_hourly,
                                select_hours)
from build.read.state import Checkpoint, Part
from build.compute.series import Key, optional_floats

HOUR_S = 3600
CHUNK_ROWS = 20_000
_VALUES = ("median_ms", "p95_ms", "loss")  # float64, NaN = NULL


@dataclass(frozen=True, slots=True)
class _Columns:
    keys: list[Key]
    key_index: np.ndarray  # int64
    hour_ts: np.ndarray  # int64
    values: dict[str, np.ndarray]


def read_week_hourly(conn: sqlite3.Connection, since_hour: int, until_ts: int, keys: list[Key],
                     now: Checkpoint | None, before: Checkpoint | None,
                     carried: Part | None) -> tuple[dict[Key, Series], Part]:
    """Series (step 1 h) of the rollups with since_hour <= hour_ts <= until_ts of each key, and
    the week's part of the state (its complete hours)."""
    cols = None
    if now is not None and before is not None and carried is not None:
        cols = _carried(conn, since_hour, until_ts, before.rowid, carried)
    if cols is None:
        cols = _cursor_columns(select_hours(conn, since_hour - 1, until_ts))
    complete = until_ts // HOUR_S * HOUR_S - HOUR_S
    dirty = read_dirty_hour(conn)  # a pending rollup is not carried: it will change
    complete = complete if dirty is None else min(complete, dirty - HOUR_S)
    return _series(cols, set(keys)), _part(_take(cols, cols.hour_ts <= complete), complete)


def _carried(conn: sqlite3.Connection, since_hour: int, until_ts: int, after_rowid: int,
             carried: Part) -> _Columns | None:
    old = _unpack(carried)
    if old is None:
        return None
    complete = int(carried.meta["complete"])
    if complete < since_hour:
        return None
    in_week = old.hour_ts >= since_hour
    stored = conn.execute("SELECT count(*) FROM hourly WHERE hour_ts >= ? AND hour_ts <= ?",
                          (since_hour, complete)).fetchone()[0]
    if int(in_week.sum()) != stored:
        return None
    late = read_late_targets(conn, after_rowid, complete + HOUR_S)
    late_keys = np.array([k[0] in late for k in old.keys] or [False])
    kept = _take(old, in_week & ~late_keys[old.key_index])
    rows = read_hours(conn, complete, until_ts)
    for target in sorted(late):
        rows += [(target, *r) for r in read_target_hourly(conn, target, since_hour, complete)]
    return _concat(kept, _columns(rows))


def _cursor_columns(cursor: sqlite3.Cursor) -> _Columns:
    """_columns of a cursor's rows, fetched chunk by chunk (Python row tuples cost ~6x the
    columns' memory)."""
    cols = _columns([])
    while rows := cursor.fetchmany(CHUNK_ROWS):
        cols = _concat(cols, _columns(rows))
    return cols


def _columns(rows: list[tuple]) -> _Columns:
    """From (target, region, probe, hour_ts, median_ms, p95_ms, loss) rows."""
    keys: dict[Key, int] = {}
    index = [keys.setdefault(r[:3], len(keys)) for r in rows]
    cols = list(zip(*rows)) or [()] * 7
    return _Columns(list(keys), np.array(index, dtype=np.int64),
                    np.array(cols[3], dtype=np.int64),
                    {n: np.array(cols[4 + i], dtype=float) for i, n in enumerate(_VALUES)})


def _take(c: _Columns, mask: np.ndarray) -> _Columns:
    return _Columns(c.keys, c.key_index[mask], c.hour_ts[mask],
                    {n: v[mask] for n, v in c.values.items()})


def _concat(a: _Columns, b: _Columns) -> _Columns:
    keys = list(dict.fromkeys(a.keys + b.keys))
    position = {k: i for i, k in enumerate(keys)}
    remap_a = np.array([position[k] for k in a.keys] or [0], dtype=np.int64)
    remap_b = np.array([position[k] for k in b.keys] or [0], dtype=np.int64)
    return _Columns(keys, np.concatenate([remap_a[a.key_index], remap_b[b.key_index]]),
                    np.concatenate([a.hour_ts, b.hour_ts]),
                    {n: np.concatenate([a.values[n], b.values[n]]) for n in _VALUES})


def _series(c: _Columns, wanted: set[Key]) -> dict[Key, Series]:
    order = np.lexsort((c.hour_ts, c.key_index))
    starts = np.flatnonzero(np.diff(c.key_index[order], prepend=-1))
    out = {}
    for group in (np.split(order, starts[1:]) if order.size else []):
        key = c.keys[int(c.key_index[group[0]])]
        if key in wanted:
            hours = tuple(c.hour_ts[group].tolist())
            median, p95 = (tuple(optional_floats(c.values[n][group])) for n in _VALUES[:2])
            out[key] = Series(key[2], HOUR_S, hours, median, p95,
                              tuple(c.values["loss"][group].tolist()))
    return out


def _unpack(part: Part) -> _Columns | None:
    try:
        a = part.arrays
        return _Columns([tuple(k) for k in part.meta["keys"]], a["key_index"], a["hour_ts"],
                        {n: a[n] for n in _VALUES})
    except (KeyError, TypeError, ValueError):
        return None


def _part(c: _Columns, complete: int) -> Part:
    return Part({"complete": complete, "keys": [list(k) for k in c.keys]},
                {"key_index": c.key_index, "hour_ts": c.hour_ts, **c.values})
