"""The raw results of the 24 h window as columns (numpy), and what the model needs from them:
RawSeries per (target, region, probe), trace fingerprints and TLS details. Pure.

Rows are ordered as `ORDER BY round_ts, region, rowid` would give them; a row whose round is
ahead of `until` or whose probe started after its round's slot is counted as skewed."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.model import ProbeFigures
from build.compute.detector_input import ResultColumns
from build.compute.series import Key, RawSeries
from collect.records import ROUND_S

NUMBERS = ("rtt_ms", "min_ms", "p95_ms", "max_ms", "jitter_ms", "loss")  # float64, NaN = NULL
CHUNK_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class WindowRows:
    """Result rows, columnar; texts (error, extra) keyed by rowid, only where not NULL."""

    keys: tuple[Key, ...]  # key_index points here
    rowid: np.ndarray  # int64
    key_index: np.ndarray  # int64
    round_ts: np.ndarray  # int64
    ts: np.ndarray  # float64
    ok: np.ndarray  # int64
    samples: np.ndarray  # int64, samples the probe sent (the length of samples_ms)
    numbers: dict[str, np.ndarray]  # NUMBERS
    errors: dict[int, str]
    extras: dict[int, object]  # trace: the fingerprint; tls: the detail JSON


@dataclass(frozen=True, slots=True)
class RecentWindow:
    raw: dict[Key, RawSeries]  # in order of each key's first row
    fingerprints: list[tuple]  # (target, region, round_ts, fingerprint) of trace rows
    tls: list[tuple]  # (target, region, round_ts, detail JSON) of tls rows with a detail
    skewed: int
    results: ResultColumns  # the window's rows as the event detector takes them
    fingerprint_rows: dict[str, int]  # a rowid of a trace result with each fingerprint


def rows_to_columns(rows: list[tuple]) -> WindowRows:
    """From (rowid, target, region, probe, round_ts, ts, ok, samples, *NUMBERS, error, extra)
    rows."""
    keys: dict[Key, int] = {}
    index = [keys.setdefault((r[1], r[2], r[3]), len(keys)) for r in rows]
    cols = list(zip(*rows)) or [()] * (8 + len(NUMBERS) + 2)
    numbers = {name: np.array(cols[8 + i], dtype=float) for i, name in enumerate(NUMBERS)}
    errors = {r[0]: r[-2] for r in rows if r[-2] is not None}
    extras = {r[0]: r[-1] for r in rows if r[-1] is not None}
    return WindowRows(tuple(keys), np.array(cols[0], dtype=np.int64),
                      np.array(index, dtype=np.int64), np.array(cols[4], dtype=np.int64),
                      np.array(cols[5], dtype=float), np.array(cols[6], dtype=np.int64),
                      np.array(cols[7], dtype=np.int64), numbers, errors, extras)


def cursor_to_columns(cursor, chunk_rows: int = CHUNK_ROWS) -> WindowRows:
    """rows_to_columns of a cursor's rows, fetched chunk by chunk: a list of ~200k row tuples
    would cost ~600 bytes a row in Python objects, the columns ~100."""
    chunks = []
    while rows := cursor.fetchmany(chunk_rows):
        chunks.append(rows_to_columns(rows))
    return concat_columns(chunks)


def concat_columns(parts: list[WindowRows]) -> WindowRows:
    """parts' rows together, in order."""
    if not parts:
        return rows_to_columns([])
    keys = dict.fromkeys(k for part in parts for k in part.keys)
    position = {k: i for i, k in enumerate(keys)}
    remaps = [np.array([position[k] for k in p.keys] or [0], dtype=np.int64) for p in parts]
    errors: dict[int, str] = {}
    extras: dict[int, object] = {}
    for p in parts:
        errors |= p.errors
        extras |= p.extras

    def cat(column) -> np.ndarray:
        return np.concatenate([column(p) for p in parts])

    return WindowRows(tuple(keys), cat(lambda p: p.rowid),
                      np.concatenate([r[p.key_index] for r, p in zip(remaps, parts)]),
                      cat(lambda p: p.round_ts), cat(lambda p: p.ts), cat(lambda p: p.ok),
                      cat(lambda p: p.samples), {n: cat(lambda p, n=n: p.numbers[n]) for n in NUMBERS},
                      errors, extras)


def merge_columns(old: WindowRows, new: WindowRows, since_ts: int) -> WindowRows:
    """old and new rows together, without rows of rounds at or before since_ts."""
    return concat_columns([_take(old, old.round_ts > since_ts), _take(new, new.round_ts > since_ts)])


def _take(w: WindowRows, mask: np.ndarray) -> WindowRows:
    rowid = w.rowid[mask]
    alive = set(rowid.tolist())
    return WindowRows(w.keys, rowid, w.key_index[mask], w.round_ts[mask], w.ts[mask],
                      w.ok[mask], w.samples[mask], {n: v[mask] for n, v in w.numbers.items()},
                      {r: e for r, e in w.errors.items() if r in alive},
                      {r: x for r, x in w.extras.items() if r in alive})


def compute_recent_window(w: WindowRows, since_ts: int, until_ts: int) -> RecentWindow:
    in_window = w.round_ts > since_ts
    valid = in_window & (w.round_ts <= until_ts) & (w.ts <= w.round_ts + ROUND_S)
    skewed = int(np.count_nonzero(in_window & ~valid))
    regions = sorted({k[1] for k in w.keys})
    region_rank = np.array([regions.index(k[1]) for k in w.keys] or [0], dtype=np.int64)
    rows = np.flatnonzero(valid)
    order = rows[np.lexsort((w.rowid[rows], region_rank[w.key_index[rows]], w.round_ts[rows]))]
    key_of = w.key_index[order]
    by_key = order[np.lexsort((np.arange(order.size), key_of))]  # window order within a key
    starts = np.flatnonzero(np.diff(w.key_index[by_key], prepend=-1))
    groups = np.split(by_key, starts[1:]) if by_key.size else []
    present, first = np.unique(key_of, return_index=True)
    series = {int(w.key_index[g[0]]): g for g in groups}
    raw = {w.keys[k]: _raw_series(w, w.keys[k], series[k])
           for k in present[np.argsort(first)].tolist()}
    fingerprints, tls = [], []
    picked = order[np.isin(w.key_index[order], _probe_keys(w.keys, ("trace", "tls")))]
    for k, round_ts, rowid in zip(w.key_index[picked].tolist(), w.round_ts[picked].tolist(),
                                  w.rowid[picked].tolist()):
        target, region, probe = w.keys[k]
        extra = w.extras.get(rowid)
        if probe == "trace":
            fingerprints.append((target, region, round_ts, extra))
        elif extra:
            tls.append((target, region, round_ts, extra))
    rowids = w.rowid[order].tolist()
    traced: dict[int, str] = {}
    fingerprint_rows: dict[str, int] = {}  # the newest row of each (window order)
    for i in np.flatnonzero(np.isin(w.key_index[order], _probe_keys(w.keys, ("trace",)))).tolist():
        fingerprint = w.extras.get(rowids[i])
        if fingerprint is not None:
            traced[i] = fingerprint
            fingerprint_rows[fingerprint] = rowids[i]
    results = ResultColumns(w.keys, w.key_index[order], w.round_ts[order],
                            w.numbers["rtt_ms"][order], w.numbers["loss"][order],
                            w.samples[order], traced)
    return RecentWindow(raw, fingerprints, tls, skewed, results, fingerprint_rows)


def _probe_keys(keys: tuple[Key, ...], probes: tuple[str, ...]) -> np.ndarray:
    return np.array([i for i, k in enumerate(keys) if k[2] in probes], dtype=np.int64)


def _raw_series(w: WindowRows, key: Key, rows: np.ndarray) -> RawSeries:
    last = int(rows[-1])
    figures = [_value(w.numbers[n][last]) for n in NUMBERS[:-1]]
    latest = ProbeFigures(key[2], int(w.round_ts[last]), bool(w.ok[last]), *figures,
                          float(w.numbers["loss"][last]), w.errors.get(int(w.rowid[last])))
    return RawSeries(w.round_ts[rows], w.numbers["rtt_ms"][rows], w.numbers["p95_ms"][rows],
                     w.numbers["loss"][rows], latest)


def _value(x: np.floating) -> float | None:
    return None if np.isnan(x) else float(x)
