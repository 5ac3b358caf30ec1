"""The 30 days of hourly rollups the trading-session figures need (build/compute/
session_figures.py): median, ok_count and count of each catalog (target, region) for the
probes colocation ranks on, as one dense grid carried between builds in the build state (part
"session_hours", build/read/state.py).

A build keeps the carried hours up to the last complete one saved, reads the hours after it for
every target, and reads the whole window again for targets whose results were stored late (a
rowid range) or that are new to the catalog. Without a usable state, or when retention pruned
the window's first hours, it reads the window per (target, region, probe): each one contiguous
range of the hourly table's primary key (through the hour index, rows lie all over the file).
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable

import numpy as np

from build.compute.session_figures import HOUR_S, PROBES, SESSION_HOURS, Key, SessionHours
from build.read.queries import (count_hours, read_counted_hours, read_dirty_hour,
                                read_late_targets, read_series_hours)
from build.read.state import Checkpoint, Part

PRUNE_CHECK_HOURS = 2  # retention deletes the oldest rollups first: these hours are recounted
ROW_CHUNK = 256  # rows moved at a time: numpy buffers an overlapping copy whole
MAX_SLIDE_HOURS = 24  # more new hours than this are read per series (the hour index is slow)
_ARRAYS = ("median_ms", "ok_count", "count")
# float32 medians and int16 counts (a round every 15 min: at most 4 an hour) keep the grid at 8
# bytes a cell, 8 MB for 100 targets
_DTYPES = (np.float32, np.int16, np.int16)


def read_session_hours(conn: sqlite3.Connection, hosts: tuple[str, ...],
                       regions: tuple[str, ...], end_hour: int, now: Checkpoint | None,
                       before: Checkpoint | None,
                       carried: Part | None) -> tuple[SessionHours, Part]:
    """The SESSION_HOURS hours ending with the one starting at end_hour (unix s), and the
    state's part (the hours up to the last whose rollups are not awaiting a refresh)."""
    first = end_hour - (SESSION_HOURS - 1) * HOUR_S
    grid = None
    if now is not None and before is not None and carried is not None:
        grid = _slid(conn, hosts, regions, first, end_hour, before.rowid, carried)
    if grid is None:
        keys = _keys(hosts, regions)
        grid = _with_series(conn, _blank(first, tuple(keys)), keys, end_hour)
    dirty = read_dirty_hour(conn)
    complete = end_hour if dirty is None else min(end_hour, dirty - HOUR_S)
    return grid, _part(grid, complete, hosts, regions)


def _keys(hosts: Iterable[str], regions: tuple[str, ...]) -> list[Key]:
    return [(h, r, p) for h in hosts for r in regions for p in PROBES]


def _slid(conn: sqlite3.Connection, hosts: tuple[str, ...], regions: tuple[str, ...],
          first: int, end_hour: int, after_rowid: int, part: Part) -> SessionHours | None:
    """The carried grid moved on to [first, end_hour]; None when it cannot serve."""
    try:
        meta = part.meta
        complete, old_hosts = int(meta["complete"]), set(meta["hosts"])
        old = SessionHours(tuple(tuple(k) for k in meta["keys"]), int(meta["first"]),
                           *(part.arrays[n] for n in _ARRAYS))
        arrays = (old.median_ms, old.ok_count, old.count)
        if meta["regions"] != list(regions) or any(
                a.shape != (len(old.keys), SESSION_HOURS) or a.dtype != dtype
                or not a.flags.writeable for a, dtype in zip(arrays, _DTYPES)):
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if not (old.first_hour_ts <= first <= complete <= end_hour
            and end_hour - complete <= MAX_SLIDE_HOURS * HOUR_S):
        return None
    grid = _moved(old, first, complete)
    first_hours = first + (PRUNE_CHECK_HOURS - 1) * HOUR_S
    if count_hours(conn, first, first_hours, PROBES) < int(
            (grid.count[:, :PRUNE_CHECK_HOURS] > 0).sum()):
        return None
    grid = _with_rows(grid, [r for r in read_counted_hours(conn, complete, end_hour, PROBES)
                             if r[0] in hosts and r[1] in regions])
    late = read_late_targets(conn, after_rowid, complete + HOUR_S)
    redo = sorted((late | (set(hosts) - old_hosts)) & set(hosts))
    return _with_series(conn, grid, _keys(redo, regions), end_hour)


def _blank(first: int, keys: tuple[Key, ...]) -> SessionHours:
    shape = (len(keys), SESSION_HOURS)
    return SessionHours(keys, first, *(np.full(shape, blank, dtype=dtype)
                                       for blank, dtype in zip((np.nan, 0, 0), _DTYPES)))


def _moved(old: SessionHours, first: int, complete: int) -> SessionHours:
    """old's hours from first (at or after old's first) to complete on the grid starting at
    first, the rest blank: old's arrays moved in place (the carried state's, this build's
    alone), so the build never holds two grids."""
    shift = (first - old.first_hour_ts) // HOUR_S
    n = (complete - first) // HOUR_S + 1
    for name, blank in zip(_ARRAYS, (np.nan, 0, 0)):
        values = getattr(old, name)
        for row in range(0, values.shape[0], ROW_CHUNK):
            chunk = values[row:row + ROW_CHUNK]
            chunk[:, :n] = chunk[:, shift:shift + n]
            chunk[:, n:] = blank
    return SessionHours(old.keys, first, old.median_ms, old.ok_count, old.count)


def _grown(grid: SessionHours, keys: Iterable[Key]) -> SessionHours:
    """grid with a blank row for each key it lacks."""
    have = set(grid.keys)
    new = tuple(k for k in dict.fromkeys(keys) if k not in have)
    if not new:
        return grid
    extra = _blank(grid.first_hour_ts, new)
    return SessionHours(grid.keys + new, grid.first_hour_ts,
                        *(np.concatenate([getattr(grid, n), getattr(extra, n)]) for n in _ARRAYS))


def _with_rows(grid: SessionHours, rows: list[tuple]) -> SessionHours:
    """grid with (target, region, probe, hour_ts, median_ms, ok_count, count) rows written in."""
    grid = _grown(grid, (r[:3] for r in rows))
    index = {k: i for i, k in enumerate(grid.keys)}
    for target, region, probe, hour, median, ok, count in rows:
        j = (hour - grid.first_hour_ts) // HOUR_S
        if 0 <= j < SESSION_HOURS:
            i = index[(target, region, probe)]
            grid.median_ms[i, j] = np.nan if median is None else median
            grid.ok_count[i, j], grid.count[i, j] = ok, count
    return grid


def _with_series(conn: sqlite3.Connection, grid: SessionHours, keys: list[Key],
                 end_hour: int) -> SessionHours:
    """grid with each key's row read whole from the database (one primary-key range each)."""
    grid = _grown(grid, keys)
    index = {k: i for i, k in enumerate(grid.keys)}
    for key in keys:
        i = index[key]
        rows = read_series_hours(conn, *key, grid.first_hour_ts, end_hour)
        grid.median_ms[i], grid.ok_count[i], grid.count[i] = np.nan, 0, 0
        if rows:
            hour, median, ok, count = zip(*rows)
            j = (np.array(hour, dtype=np.int64) - grid.first_hour_ts) // HOUR_S
            grid.median_ms[i, j] = np.array(median, dtype=float)  # None -> NaN
            grid.ok_count[i, j], grid.count[i, j] = ok, count
    return grid


def _part(grid: SessionHours, complete: int, hosts: tuple[str, ...],
          regions: tuple[str, ...]) -> Part:
    """The grid's series with a rollup in the window; hours after complete are read again."""
    kept = np.flatnonzero((grid.count > 0).any(axis=1))
    every = kept.size == len(grid.keys)  # then the arrays themselves, not a copy
    return Part({"first": grid.first_hour_ts, "complete": complete, "hosts": list(hosts),
                 "regions": list(regions), "keys": [list(grid.keys[i]) for i in kept.tolist()]},
                {n: getattr(grid, n) if every else getattr(grid, n)[kept] for n in _ARRAYS})
