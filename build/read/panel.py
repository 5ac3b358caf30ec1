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

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from build.compute.detector_input import (DETECTED_PROBES, HourValues, ResultColumns,
                                          compute_panel_history)
from build.compute.panel import PanelHistory, concat_histories, round_grid, season_hours
from build.read.queries import extras_sql, read_hops
from collect.records import ROUND_S
from collect.targets import Catalog
from db.connection import Reader

CHUNK_ROUNDS = 7 * 96
FETCH = 20_000
# every row once, in the unique key's order (round_ts, region, target, probe): a fingerprint's
# hops come from its last row of a chunk (latest round). The key as one text, as converting
# values is most of the read (ingest lets no space into a host or region); the round -1 when
# the build leaves the row out (the probe started after its round's slot, or off the grid).
_ROWS = ("SELECT target || ' ' || region || ' ' || probe, "
         f"CASE WHEN ts <= round_ts + {ROUND_S} AND round_ts % {ROUND_S} = 0 THEN round_ts "
         "ELSE -1 END, rtt_ms, loss, {sent}, rowid, CASE probe WHEN 'trace' THEN {fingerprint} END "
         "FROM results WHERE round_ts >= ? AND round_ts <= ? AND target IN ({marks}) "
         "ORDER BY round_ts, region, target, probe")
# +hour_ts: walk each target's part of the primary key, not the hour index row by row; its
# order both ways: each key's row count, then the rows' numbers without their key texts
_HOURLY_WHERE = ("FROM hourly WHERE target IN ({}) AND +hour_ts >= ? AND +hour_ts <= ? "
                 "AND probe IN ({})")
_HOURLY_KEYS = ("SELECT target, region, probe, count(*) " + _HOURLY_WHERE
                + " GROUP BY target, region, probe ORDER BY target, region, probe")
_HOURLY = ("SELECT hour_ts, median_ms, loss " + _HOURLY_WHERE
           + " ORDER BY target, region, probe, hour_ts")


@dataclass(frozen=True, slots=True)
class StoredSpan:
    first_ts: int | None  # the first and last stored rounds (None: no results at all)
    last_ts: int | None


def read_span(conn: Reader) -> StoredSpan:
    first, last = conn.execute("SELECT min(round_ts), max(round_ts) FROM results").fetchone()
    return StoredSpan(first, last)


@dataclass(frozen=True, slots=True)
class HistoryRead:
    history: PanelHistory
    left_out: int  # rows a build leaves out: probe started after its slot, or off the grid


def read_panel_history(conn: Reader, first_ts: int, last_ts: int,
                       catalog: Catalog) -> HistoryRead:
    """Every round from first_ts to last_ts (both on the grid) of the catalog's targets, all
    read in one snapshot (one read transaction)."""
    hosts = [t.host for t in catalog.targets]
    conn.execute("BEGIN")
    try:
        hours = read_season_values(conn, season_hours(round_grid(first_ts, last_ts)), hosts)
        parts, left_out = [], 0
        for lo in range(first_ts, last_ts + 1, CHUNK_ROUNDS * ROUND_S):
            hi = min(lo + (CHUNK_ROUNDS - 1) * ROUND_S, last_ts)
            results, rowids, skipped = read_result_columns(conn, lo, hi, hosts)
            left_out += skipped
            parts.append(compute_panel_history(results, _season_of(hours, lo, hi),
                                               read_hops(conn, rowids), catalog, lo, hi))
    finally:
        conn.execute("ROLLBACK")
    return HistoryRead(concat_histories(parts), left_out)


def _season_of(hours: HourValues, first_ts: int, last_ts: int) -> HourValues:
    """The rollups among hours that the season of rounds first_ts..last_ts looks at (the
    others would only be carried through its arrays)."""
    wanted = season_hours(round_grid(first_ts, last_ts))
    take = (hours.hour_ts >= wanted[0]) & (hours.hour_ts <= wanted[-1])
    return HourValues(hours.keys, hours.key_index[take], hours.hour_ts[take],
                      hours.median_ms[take], hours.loss_ratio[take])


def read_result_columns(conn: Reader, first_ts: int, last_ts: int,
                        hosts: list[str]) -> tuple[ResultColumns, dict[str, int], int]:
    """The results of rounds first_ts..last_ts of the hosts as the detector takes them, a rowid
    of a trace with each fingerprint (of its latest round), and how many rows were left out."""
    keys: defaultdict[str, int] = defaultdict(itertools.count().__next__)  # key -> its index
    index, rounds, rtt, loss, samples = [], [], [], [], []
    fingerprints: dict[int, str] = {}
    rowids: dict[str, int] = {}
    kept = total = 0
    sql = _ROWS.format(marks=", ".join("?" * len(hosts)), **extras_sql(conn))
    for rows in _batches(conn.execute(sql, (first_ts, last_ts, *hosts))):
        cols = np.array(rows, dtype=object)  # its columns convert in C, not row by row
        at = cols[:, 1].astype(np.int64)
        keep = at >= 0
        index.append(np.fromiter(map(keys.__getitem__, cols[:, 0]), np.int64, len(rows))[keep])
        cols = cols[keep]
        rounds.append(at[keep])
        rtt.append(cols[:, 2].astype(float))  # None (NULL): NaN
        loss.append(cols[:, 3].astype(float))
        samples.append(cols[:, 4].astype(np.int64))
        traced = np.flatnonzero(np.not_equal(cols[:, 6], None))
        prints = cols[traced, 6].tolist()
        fingerprints.update(zip((kept + traced).tolist(), prints))
        rowids.update(zip(prints, cols[traced, 5].tolist()))  # the latest row wins
        kept += cols.shape[0]
        total += keep.size
    return ResultColumns(tuple(tuple(k.split(" ")) for k in keys), _join(index, np.int64),
                         _join(rounds, np.int64), _join(rtt, float), _join(loss, float),
                         _join(samples, np.int64), fingerprints), rowids, total - kept


def _batches(rows: Iterable[tuple]) -> Iterator[list[tuple]]:
    """rows FETCH at a time (a cursor of either module: apsw's has no fetchmany)."""
    rows = iter(rows)
    while batch := list(itertools.islice(rows, FETCH)):
        yield batch


def _join(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def read_season_values(conn: Reader, hours: np.ndarray,
                       hosts: list[str]) -> HourValues:
    """The rollups (median_ms, loss) of the detected probes of the hosts from the first to the
    last of hours (the season reads only the hours it needs of them)."""
    if not (hours.size and hosts):
        return HourValues((), *(np.zeros(0, dtype=t) for t in (np.int64, np.int64, float, float)))
    marks = (", ".join("?" * len(hosts)), ", ".join("?" * len(DETECTED_PROBES)))
    args = (*hosts, int(hours[0]), int(hours[-1]), *DETECTED_PROBES)
    counts = conn.execute(_HOURLY_KEYS.format(*marks), args).fetchall()
    parts = []
    for rows in _batches(conn.execute(_HOURLY.format(*marks), args)):
        parts.append(np.array(rows, dtype=float).reshape(-1, 3))  # NULL: NaN
    values = np.concatenate(parts) if parts else np.zeros((0, 3))
    index = np.repeat(np.arange(len(counts), dtype=np.int64), [c[3] for c in counts])
    return HourValues(tuple(c[:3] for c in counts), index, values[:, 0].astype(np.int64),
                      values[:, 1].copy(), values[:, 2].copy())
