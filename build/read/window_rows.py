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
from build.read.codes import join_codes
from collect.records import ROUND_S

NUMBERS = ("rtt_ms", "min_ms", "p95_ms", "max_ms", "jitter_ms", "loss")  # float64, NaN = NULL
CHUNK_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class WindowRows:
    """Result rows, columnar. The texts (error, extra) are codes into texts, -1 where NULL: a
    fingerprint repeats over the window's ~100 rounds, and one string object a row cost ~15 MB
    in the carried state."""

    keys: tuple[Key, ...]  # key_index points here
    texts: tuple[object, ...]  # error and extra point here
    rowid: np.ndarray  # int64
    key_index: np.ndarray  # int32
    round_ts: np.ndarray  # int64
    ts: np.ndarray  # float64
    ok: np.ndarray  # int8
    samples: np.ndarray  # int32, samples the probe sent (the length of samples_ms)
    numbers: dict[str, np.ndarray]  # NUMBERS
    error: np.ndarray  # int32
    extra: np.ndarray  # int32; trace: the fingerprint, tls: the detail JSON


@dataclass(frozen=True, slots=True)
class RecentWindow:
    raw: dict[Key, RawSeries]  # in order of each key's first row
    latest_traces: dict[tuple[str, str], tuple[int, object]]  # (target, region) -> the
    # (round_ts, fingerprint) of its newest trace row
    latest_tls: list[tuple]  # (target, region, round_ts, detail JSON): each target's newest
    # tls row with a detail
    skewed: int
    results: ResultColumns  # the window's rows as the event detector takes them
    fingerprint_rows: dict[str, int]  # a rowid of a trace result with each fingerprint


def rows_to_columns(rows: list[tuple]) -> WindowRows:
    """From (rowid, target, region, probe, round_ts, ts, ok, samples, *NUMBERS, error, extra)
    rows."""
    keys: dict[Key, int] = {}
    texts: dict[object, int] = {}
    index = [keys.setdefault((r[1], r[2], r[3]), len(keys)) for r in rows]
    cols = list(zip(*rows)) or [()] * (8 + len(NUMBERS) + 2)
    numbers = {name: np.array(cols[8 + i], dtype=float) for i, name in enumerate(NUMBERS)}
    error, extra = _codes(cols[-2], texts), _codes(cols[-1], texts)
    return WindowRows(tuple(keys), tuple(texts), np.array(cols[0], dtype=np.int64),
                      np.array(index, dtype=np.int32), np.array(cols[4], dtype=np.int64),
                      np.array(cols[5], dtype=float), np.array(cols[6], dtype=np.int8),
                      np.array(cols[7], dtype=np.int32), numbers, error, extra)


def _codes(values: tuple, texts: dict[object, int]) -> np.ndarray:
    return np.array([-1 if v is None else texts.setdefault(v, len(texts)) for v in values],
                    dtype=np.int32)


def cursor_to_columns(cursor, chunk_rows: int = CHUNK_ROWS) -> WindowRows:
    """rows_to_columns of a cursor's rows, fetched chunk by chunk: a list of ~200k row tuples
    would cost ~600 bytes a row in Python objects, the columns ~70."""
    chunks = []
    while rows := cursor.fetchmany(chunk_rows):
        chunks.append(rows_to_columns(rows))
    return concat_columns(chunks)


def concat_columns(parts: list[WindowRows]) -> WindowRows:
    """parts' rows together, in order; only the texts some row points at are kept."""
    if not parts:
        return rows_to_columns([])
    keys, key_index = join_codes([(p.keys, p.key_index) for p in parts])
    used = [np.unique(np.concatenate([p.error, p.extra])) for p in parts]
    texts = dict.fromkeys(p.texts[c] for p, u in zip(parts, used) for c in u[u >= 0].tolist())
    text_at = {x: i for i, x in enumerate(texts)}
    # the last entry stays -1: a NULL's code indexes it
    text_remaps = [np.array([text_at.get(x, -1) for x in p.texts] + [-1], dtype=np.int32)
                   for p in parts]

    def cat(column) -> np.ndarray:
        return np.concatenate([column(p) for p in parts])

    return WindowRows(keys, tuple(texts), cat(lambda p: p.rowid), key_index,
                      cat(lambda p: p.round_ts), cat(lambda p: p.ts), cat(lambda p: p.ok),
                      cat(lambda p: p.samples),
                      {n: cat(lambda p, n=n: p.numbers[n]) for n in NUMBERS},
                      np.concatenate([r[p.error] for r, p in zip(text_remaps, parts)]),
                      np.concatenate([r[p.extra] for r, p in zip(text_remaps, parts)]))


def merge_columns(old: WindowRows, new: WindowRows, since_ts: int) -> WindowRows:
    """old and new rows together, without rows of rounds at or before since_ts."""
    return concat_columns([_take(old, old.round_ts > since_ts),
                           _take(new, new.round_ts > since_ts)])


def _take(w: WindowRows, mask: np.ndarray) -> WindowRows:
    return WindowRows(w.keys, w.texts, w.rowid[mask], w.key_index[mask], w.round_ts[mask],
                      w.ts[mask], w.ok[mask], w.samples[mask],
                      {n: v[mask] for n, v in w.numbers.items()}, w.error[mask], w.extra[mask])


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
    latest_traces: dict[tuple[str, str], tuple[int, object]] = {}
    latest_tls: dict[str, tuple] = {}
    picked = order[np.isin(w.key_index[order], _probe_keys(w.keys, ("trace", "tls")))]
    for k, round_ts, code in zip(w.key_index[picked].tolist(), w.round_ts[picked].tolist(),
                                 w.extra[picked].tolist()):
        target, region, probe = w.keys[k]
        extra = None if code < 0 else w.texts[code]
        if probe == "trace":
            latest_traces[(target, region)] = (round_ts, extra)
        elif extra:
            latest_tls[target] = (target, region, round_ts, extra)
    trace_rows = np.flatnonzero(np.isin(w.key_index[order], _probe_keys(w.keys, ("trace",))))
    codes = w.extra[order[trace_rows]]
    traced_at = trace_rows[codes >= 0].tolist()
    fingerprints = [w.texts[c] for c in codes[codes >= 0].tolist()]
    traced = dict(zip(traced_at, fingerprints))
    # the newest row of each fingerprint (window order)
    fingerprint_rows = dict(zip(fingerprints, w.rowid[order[traced_at]].tolist()))
    results = ResultColumns(w.keys, w.key_index[order].astype(np.int64), w.round_ts[order],
                            w.numbers["rtt_ms"][order], w.numbers["loss"][order],
                            w.samples[order].astype(np.int64), traced)
    return RecentWindow(raw, latest_traces, list(latest_tls.values()), skewed, results,
                        fingerprint_rows)


def _probe_keys(keys: tuple[Key, ...], probes: tuple[str, ...]) -> np.ndarray:
    return np.array([i for i, k in enumerate(keys) if k[2] in probes], dtype=np.int64)


def _raw_series(w: WindowRows, key: Key, rows: np.ndarray) -> RawSeries:
    last = int(rows[-1])
    figures = [_value(w.numbers[n][last]) for n in NUMBERS[:-1]]
    error = int(w.error[last])
    latest = ProbeFigures(key[2], int(w.round_ts[last]), bool(w.ok[last]), *figures,
                          float(w.numbers["loss"][last]), None if error < 0 else w.texts[error])
    return RawSeries(w.round_ts[rows], w.numbers["rtt_ms"][rows], w.numbers["p95_ms"][rows],
                     w.numbers["loss"][rows], latest)


def _value(x: np.floating) -> float | None:
    return None if np.isnan(x) else float(x)
