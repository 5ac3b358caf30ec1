"""SQL of the backtest: the PanelHistory of a span of stored rounds for a catalog's targets,
made exactly as each build makes its own (build/compute/detector_input.compute_panel_history
on the same columns: RTT, loss, sample counts and trace fingerprints of valid rows, the
hour-of-week rollups, the hops of each fingerprint), a week of rounds at a time so memory
stays bounded. Rows are fetched in chunks straight into numpy columns.

Whatever `nettrace ingest import` stored is read: rows in any rowid order (backfilled months),
gaps (NaN); rows the build leaves out (a probe started after its round's slot, a round off the
15-minute grid) are left out and counted.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np

from build.compute.detector_input import (DETECTED_PROBES, HourValues, ResultColumns,
                                          compute_panel_history)
from build.compute.panel import PanelHistory, concat_histories, round_grid, season_hours
from build.read.queries import read_hops
from collect.records import ROUND_S
from collect.targets import Catalog

CHUNK_ROUNDS = 7 * 96
FETCH = 20_000
_RESULTS = ("SELECT rowid, target, region, probe, round_ts, ts, rtt_ms, loss, "
            "json_array_length(samples_ms), "
            "CASE probe WHEN 'trace' THEN json_extract(detail, '$.fingerprint') END "
            "FROM results WHERE round_ts >= ? AND round_ts <= ? AND target IN ({})")
# +hour_ts: walk each target's part of the primary key, not the hour index row by row
_HOURLY = ("SELECT target, region, probe, hour_ts, median_ms, loss FROM hourly "
           "WHERE target IN ({}) AND +hour_ts >= ? AND +hour_ts <= ? AND probe IN ({})")
_RESULT_TYPES = (np.int64, np.int64, float, float, np.int64)  # key, round, rtt, loss, samples


@dataclass(frozen=True, slots=True)
class StoredSpan:
    first_ts: int | None  # the first and last stored rounds (None: no results at all)
    last_ts: int | None


def read_span(conn: sqlite3.Connection) -> StoredSpan:
    first, last = conn.execute("SELECT min(round_ts), max(round_ts) FROM results").fetchone()
    return StoredSpan(first, last)


@dataclass(frozen=True, slots=True)
class HistoryRead:
    history: PanelHistory
    left_out: int  # rows a build leaves out: probe started after its slot, or off the grid


def read_panel_history(conn: sqlite3.Connection, first_ts: int, last_ts: int,
                       catalog: Catalog) -> HistoryRead:
    """Every round from first_ts to last_ts (both on the grid) of the catalog's targets."""
    hosts = [t.host for t in catalog.targets]
    hours = read_season_values(conn, season_hours(round_grid(first_ts, last_ts)), hosts)
    parts, left_out = [], 0
    for lo in range(first_ts, last_ts + 1, CHUNK_ROUNDS * ROUND_S):
        hi = min(lo + (CHUNK_ROUNDS - 1) * ROUND_S, last_ts)
        results, rowids, skipped = read_result_columns(conn, lo, hi, hosts)
        left_out += skipped
        parts.append(compute_panel_history(results, hours, read_hops(conn, rowids), catalog,
                                           lo, hi))
    return HistoryRead(concat_histories(parts), left_out)


def read_result_columns(conn: sqlite3.Connection, first_ts: int, last_ts: int,
                        hosts: list[str]) -> tuple[ResultColumns, dict[str, int], int]:
    """The results of rounds first_ts..last_ts of the hosts as the detector takes them, a
    rowid of a trace with each fingerprint, and how many rows were left out."""
    keys: dict[tuple, int] = {}
    cols: list[list[np.ndarray]] = [[] for _ in _RESULT_TYPES]
    fingerprints: dict[int, str] = {}
    rowids: dict[str, int] = {}
    left_out = kept = 0
    sql = _RESULTS.format(", ".join("?" * len(hosts)))
    cur = conn.execute(sql, (first_ts, last_ts, *hosts))
    while rows := cur.fetchmany(FETCH):
        rowid, target, region, probe, round_ts, ts, rtt, loss, samples, fp = zip(*rows)
        round_ts = np.array(round_ts, dtype=np.int64)
        valid = (np.array(ts, dtype=float) <= round_ts + ROUND_S) & (round_ts % ROUND_S == 0)
        left_out += int((~valid).sum())
        position = kept + np.cumsum(valid) - 1
        for i, f in enumerate(fp):
            if f is not None and valid[i]:
                fingerprints[int(position[i])] = f
                rowids[f] = rowid[i]
        index = [keys.setdefault(k, len(keys)) for k in zip(target, region, probe)]
        for out, column, dtype in zip(cols, (index, round_ts, rtt, loss, samples),
                                      _RESULT_TYPES):
            out.append(np.array(column, dtype=dtype)[valid])
        kept += int(valid.sum())
    arrays = [np.concatenate(c) if c else np.zeros(0, dtype=t)
              for c, t in zip(cols, _RESULT_TYPES)]
    return ResultColumns(tuple(keys), *arrays, fingerprints), rowids, left_out


def read_season_values(conn: sqlite3.Connection, hours: np.ndarray,
                       hosts: list[str]) -> HourValues:
    """The rollups (median_ms, loss) of the detected probes of the hosts from the first to the
    last of hours (the season reads only the hours it needs of them)."""
    keys: dict[tuple, int] = {}
    cols: list[list[np.ndarray]] = [[], [], [], []]
    if hours.size and hosts:
        sql = _HOURLY.format(", ".join("?" * len(hosts)), ", ".join("?" * len(DETECTED_PROBES)))
        cur = conn.execute(sql, (*hosts, int(hours[0]), int(hours[-1]), *DETECTED_PROBES))
        while rows := cur.fetchmany(FETCH):
            target, region, probe, hour, median, loss = zip(*rows)
            cols[0].append(np.array([keys.setdefault(k, len(keys))
                                     for k in zip(target, region, probe)], dtype=np.int64))
            cols[1].append(np.array(hour, dtype=np.int64))
            cols[2].append(np.array(median, dtype=float))  # NULL: NaN
            cols[3].append(np.array(loss, dtype=float))
    arrays = [np.concatenate(c) if c else np.zeros(0, dtype=t)
              for c, t in zip(cols, (np.int64, np.int64, float, float))]
    return HourValues(tuple(keys), *arrays)
