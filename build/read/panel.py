"""SQL of the backtest: the PanelHistory of a span of stored rounds for a catalog's targets,
made exactly as each build makes its own (build/compute/detector_input.compute_panel_history
on the same columns: RTT, loss, sample counts and trace fingerprints of valid rows, the
hour-of-week rollups, the hops of each fingerprint), a week of rounds at a time so memory
stays bounded. Rows come as Arrow columns (db/bulk.py), each week in a snapshot of its own.

Whatever `nettrace ingest import` stored is read: rows in any rowid order (backfilled months),
gaps (NaN); rows the build leaves out (a probe started after its round's slot, a round off the
15-minute grid) are left out and counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow
import pyarrow.compute as pc

from build.compute.detector_input import (DETECTED_PROBES, HourValues, ResultColumns,
                                          compute_panel_history)
from build.compute.panel import PanelHistory, concat_histories, round_grid, season_hours
from build.read.queries import extras_sql, read_hops
from collect.records import ROUND_S
from collect.targets import Catalog
from db.bulk import read_table, sql_text
from db.connection import connect

CHUNK_ROUNDS = 7 * 96
# every row once, in the unique key's order (round_ts, region, target, probe): a fingerprint's
# hops come from its last row of a chunk (latest round). The key as one text (ingest lets no
# space into a host or region); the round -1 when the build leaves the row out (the probe
# started after its round's slot, or off the grid); '' and -1 for no fingerprint and rowid,
# as a NULL first row would leave connectorx without a column type.
_ROWS = ("SELECT target || ' ' || region || ' ' || probe, "
         f"CASE WHEN ts <= round_ts + {ROUND_S} AND round_ts % {ROUND_S} = 0 THEN round_ts "
         "ELSE -1 END, rtt_ms, loss, {sent}, CASE probe WHEN 'trace' THEN rowid ELSE -1 END, "
         "CASE probe WHEN 'trace' THEN coalesce({fingerprint}, '') ELSE '' END "
         "FROM results WHERE round_ts >= {first} AND round_ts <= {last} AND target IN ({hosts}) "
         "ORDER BY round_ts, region, target, probe")
# +hour_ts: walk each target's part of the primary key, not the hour index row by row
_HOURLY = ("SELECT target || ' ' || region || ' ' || probe, hour_ts, median_ms, loss "
           "FROM hourly WHERE target IN ({hosts}) AND +hour_ts >= {first} AND +hour_ts <= {last} "
           "AND probe IN ({probes}) ORDER BY target, region, probe, hour_ts")


@dataclass(frozen=True, slots=True)
class StoredSpan:
    first_ts: int | None  # the first and last stored rounds (None: no results at all)
    last_ts: int | None


def read_span(db: Path) -> StoredSpan:
    conn = connect(db, readonly=True)
    try:
        first, last = conn.execute("SELECT min(round_ts), max(round_ts) FROM results").fetchone()
    finally:
        conn.close()
    return StoredSpan(first, last)


@dataclass(frozen=True, slots=True)
class HistoryRead:
    history: PanelHistory
    left_out: int  # rows a build leaves out: probe started after its slot, or off the grid


def read_panel_history(db: Path, first_ts: int, last_ts: int, catalog: Catalog) -> HistoryRead:
    """Every round from first_ts to last_ts (both on the grid) of the catalog's targets."""
    hosts = [t.host for t in catalog.targets]
    conn = connect(db, readonly=True)
    try:
        extras = extras_sql(conn)
        hours = read_season_values(db, season_hours(round_grid(first_ts, last_ts)), hosts)
        parts, left_out = [], 0
        for lo in range(first_ts, last_ts + 1, CHUNK_ROUNDS * ROUND_S):
            hi = min(lo + (CHUNK_ROUNDS - 1) * ROUND_S, last_ts)
            results, rowids, skipped = read_result_columns(db, lo, hi, hosts, extras)
            left_out += skipped
            parts.append(compute_panel_history(results, _season_of(hours, lo, hi),
                                               read_hops(conn, rowids), catalog, lo, hi))
    finally:
        conn.close()
    return HistoryRead(concat_histories(parts), left_out)


def _season_of(hours: HourValues, first_ts: int, last_ts: int) -> HourValues:
    """The rollups among hours that the season of rounds first_ts..last_ts looks at (the
    others would only be carried through its arrays)."""
    wanted = season_hours(round_grid(first_ts, last_ts))
    return hours.take((hours.hour_ts >= wanted[0]) & (hours.hour_ts <= wanted[-1]))


def read_result_columns(db: Path, first_ts: int, last_ts: int, hosts: list[str],
                        extras: dict[str, str]) -> tuple[ResultColumns, dict[str, int], int]:
    """The results of rounds first_ts..last_ts of the hosts as the detector takes them, a rowid
    of a trace with each fingerprint (of its latest round), and how many rows were left out.
    extras: build/read/queries.extras_sql of the database."""
    table = read_table(db, _ROWS.format(first=first_ts, last=last_ts, hosts=_texts(hosts),
                                        **extras))
    if not table.num_rows:
        return ResultColumns((), *(np.zeros(0, dtype=t) for t in
                                   (np.int64, np.int64, float, float, np.int64)), {}), {}, 0
    key, at, rtt, loss, samples, rowid, fingerprint = table.columns
    keys, index = _encode(key)
    at = at.to_numpy()
    keep = at >= 0
    traced = np.flatnonzero(pc.not_equal(fingerprint, "").to_numpy() & keep)
    prints = fingerprint.take(traced).to_pylist()
    row_of = np.cumsum(keep) - 1  # a kept row's place among the kept
    return (ResultColumns(keys, index[keep], at[keep], _floats(rtt)[keep], _floats(loss)[keep],
                          samples.to_numpy()[keep], dict(zip(row_of[traced].tolist(), prints))),
            dict(zip(prints, rowid.to_numpy()[traced].tolist())),  # the latest row wins
            int(keep.size - np.count_nonzero(keep)))


def read_season_values(db: Path, hours: np.ndarray, hosts: list[str]) -> HourValues:
    """The rollups (median_ms, loss) of the detected probes of the hosts from the first to the
    last of hours (the season reads only the hours it needs of them)."""
    table = (read_table(db, _HOURLY.format(hosts=_texts(hosts), first=int(hours[0]),
                                           last=int(hours[-1]), probes=_texts(DETECTED_PROBES)))
             if hours.size and hosts else None)
    if table is None or not table.num_rows:
        return HourValues.empty()
    key, hour_ts, median_ms, loss = table.columns
    keys, index = _encode(key)
    return HourValues(keys, index, hour_ts.to_numpy(), _floats(median_ms), _floats(loss))


def _encode(key: pyarrow.ChunkedArray) -> tuple[tuple[tuple[str, ...], ...], np.ndarray]:
    """The distinct 'target region probe' texts as (target, region, probe) in the order they
    first come, and each row's place among them."""
    coded = pc.dictionary_encode(key.combine_chunks())
    return (tuple(tuple(k.split(" ")) for k in coded.dictionary.to_pylist()),
            coded.indices.to_numpy().astype(np.int64))


def _floats(column: pyarrow.ChunkedArray) -> np.ndarray:
    return column.to_numpy().astype(float)  # NULL: NaN


def _texts(values) -> str:
    return ", ".join(map(sql_text, values))
