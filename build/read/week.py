"""The 7 d hourly series, carried between builds under the cache folder: complete hours are
kept as numpy columns; a build reads the hours after the previous build's last complete hour
for every target, and the whole week of targets whose results were stored late (a rowid
range). It reads the week whole on another database or when rollups of the week were deleted."""
from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from build.compute.model import Series
from build.read.queries import (read_dirty_hour, read_hours, read_last_row, read_late_targets,
                           read_row_identity, read_target_hourly)
from build.compute.series import Key, optional_floats

STATE_VERSION = 1
HOUR_S = 3600
_FILE = "week.npz"
_VALUES = ("median_ms", "p95_ms", "loss")  # float64, NaN = NULL


@dataclass(frozen=True, slots=True)
class _Columns:
    keys: list[Key]
    key_index: np.ndarray  # int64
    hour_ts: np.ndarray  # int64
    values: dict[str, np.ndarray]


def read_week_hourly(conn: sqlite3.Connection, since_hour: int, until_ts: int,
                     keys: list[Key], cache_dir: Path | None) -> dict[Key, Series]:
    """Series (step 1 h) of the rollups with since_hour <= hour_ts <= until_ts of each key."""
    last = read_last_row(conn)
    cols = None
    if cache_dir is not None and last is not None:
        cols = _carried(conn, Path(cache_dir) / _FILE, since_hour, until_ts, last)
    if cols is None:
        cols = _columns(read_hours(conn, since_hour - 1, until_ts))
    if cache_dir is not None and last is not None:
        complete = until_ts // HOUR_S * HOUR_S - HOUR_S
        dirty = read_dirty_hour(conn)  # a pending rollup is not carried: it will change
        complete = complete if dirty is None else min(complete, dirty - HOUR_S)
        _save(Path(cache_dir) / _FILE, _take(cols, cols.hour_ts <= complete), last, complete)
    return _series(cols, set(keys))


def _carried(conn: sqlite3.Connection, path: Path, since_hour: int, until_ts: int,
             last: tuple[int, str]) -> _Columns | None:
    state = _load(path)
    if state is None:
        return None
    old, (rowid, identity, complete) = state
    if rowid > last[0] or read_row_identity(conn, rowid) != identity or complete < since_hour:
        return None
    in_week = old.hour_ts >= since_hour
    stored = conn.execute("SELECT count(*) FROM hourly WHERE hour_ts >= ? AND hour_ts <= ?",
                          (since_hour, complete)).fetchone()[0]
    if int(in_week.sum()) != stored:
        return None
    late = read_late_targets(conn, rowid, complete + HOUR_S)
    late_keys = np.array([k[0] in late for k in old.keys] or [False])
    kept = _take(old, in_week & ~late_keys[old.key_index])
    rows = read_hours(conn, complete, until_ts)
    for target in sorted(late):
        rows += [(target, *r) for r in read_target_hourly(conn, target, since_hour, complete)]
    return _concat(kept, _columns(rows))


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


def _load(path: Path) -> tuple[_Columns, tuple[int, str, int]] | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(f["meta"].tobytes())
            if meta.get("version") != STATE_VERSION:
                return None
            cols = _Columns([tuple(k) for k in meta["keys"]], f["key_index"], f["hour_ts"],
                            {n: f[n] for n in _VALUES})
            return cols, (int(meta["rowid"]), str(meta["identity"]), int(meta["complete"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(path: Path, c: _Columns, last: tuple[int, str], complete: int) -> None:
    meta = {"version": STATE_VERSION, "rowid": last[0], "identity": last[1],
            "complete": complete, "keys": [list(k) for k in c.keys]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.npz"
    np.savez(tmp, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
             key_index=c.key_index, hour_ts=c.hour_ts, **c.values)
    os.replace(tmp, path)
