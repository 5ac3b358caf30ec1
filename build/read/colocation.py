"""Read the colocation window: the hourly median RTTs of icmp and tcp for every target and
region over the 7 days ending at one hour, as one HourlyGrid (build/compute/colocation.py)."""
from __future__ import annotations

import itertools
import sqlite3

import numpy as np

from build.compute.colocation import HOUR_S, PROBES, WINDOW_HOURS, HourlyGrid


def read_colocation_grid(conn: sqlite3.Connection, hosts: tuple[str, ...],
                         regions: tuple[str, ...], end_hour_ts: int,
                         hours: int = WINDOW_HOURS) -> HourlyGrid:
    """The hourly rollups' median_ms for hosts x PROBES x regions over the `hours` hours ending
    with the one starting at end_hour_ts (unix s, a multiple of 3600); NaN where an hour has
    no rollup or no median. Rows of other targets, regions or probes are not read."""
    first = end_hour_ts - (hours - 1) * HOUR_S
    shape = (len(hosts), len(PROBES), len(regions), hours)
    grid = np.full(shape, np.nan)
    if not hosts or not regions:
        return HourlyGrid(tuple(hosts), PROBES, tuple(regions), first, grid)
    # SQLite numbers each row's cell of the flat grid, so a row is two numbers, not five
    # Python objects (310k rows: the conversion costs more than the query). The joins seek
    # the primary key (target, region, probe, hour_ts) once per series.
    sql = (f"WITH t(name, i) AS (VALUES {_numbered(len(hosts))}), "
           f"r(name, i) AS (VALUES {_numbered(len(regions))}), "
           f"p(name, i) AS (VALUES {_numbered(len(PROBES))}) "
           f"SELECT ((t.i * {len(PROBES)} + p.i) * {len(regions)} + r.i) * {hours} "
           "+ (h.hour_ts - ?) / 3600, h.median_ms "
           "FROM t CROSS JOIN r CROSS JOIN p JOIN hourly h "
           "ON h.target = t.name AND h.region = r.name AND h.probe = p.name "
           "WHERE h.hour_ts >= ? AND h.hour_ts <= ? AND h.median_ms IS NOT NULL")
    cursor = conn.execute(sql, (*hosts, *regions, *PROBES, first, first, end_hour_ts))
    pairs = np.fromiter(itertools.chain.from_iterable(cursor), dtype=float).reshape(-1, 2)
    grid.reshape(-1)[pairs[:, 0].astype(np.int64)] = pairs[:, 1]
    return HourlyGrid(tuple(hosts), PROBES, tuple(regions), first, grid)


def _numbered(n: int) -> str:
    """"(?, 0), (?, 1), ...": a VALUES list giving each bound name its position."""
    return ", ".join(f"(?, {i})" for i in range(n))
