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
MAX_SLIDE_HOURS = 24  # more new hours than this are read per series (the hour index is slow)
_ARRAYS = ("median_ms", "ok_count", "count")


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
        grid = _with_series(conn, _blank(first), _keys(hosts, regions), end_hour)
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
        if meta["regions"] != list(regions) or old.median_ms.shape[1] != SESSION_HOURS:
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


def _blank(first: int, keys: tuple[Key, ...] = ()) -> SessionHours:
    shape = (len(keys), SESSION_HOURS)
    return SessionHours(keys, first, np.full(shape, np.nan), np.zeros(shape, dtype=np.int32),
                        np.zeros(shape, dtype=np.int32))


def _moved(old: SessionHours, first: int, complete: int) -> SessionHours:
    """old's hours from first to complete on the grid starting at first; the rest blank."""
    grid = _blank(first, old.keys)
    shift = (first - old.first_hour_ts) // HOUR_S
    n = (complete - first) // HOUR_S + 1
    src = np.arange(n) + shift
    keep = (src >= 0) & (src < old.median_ms.shape[1])
    for name in _ARRAYS:
        getattr(grid, name)[:, np.flatnonzero(keep)] = getattr(old, name)[:, src[keep]]
    return grid


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
    return Part({"first": grid.first_hour_ts, "complete": complete, "hosts": list(hosts),
                 "regions": list(regions), "keys": [list(grid.keys[i]) for i in kept.tolist()]},
                {n: getattr(grid, n)[kept] for n in _ARRAYS})
