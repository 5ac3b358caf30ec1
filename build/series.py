"""Raw result rows and hourly rollups grouped into per-(target, region, probe) arrays and the
model's Series and ProbeFigures. Pure: rows in, records out."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from build.model import ProbeFigures, Series

Key = tuple[str, str, str]  # (target, region, probe)


@dataclass(frozen=True, slots=True)
class RawSeries:
    """The rounds of one (target, region, probe) in the window, oldest first."""

    ts: np.ndarray  # int64 unix s
    rtt_ms: np.ndarray  # NaN where nothing came back
    p95_ms: np.ndarray
    loss_ratio: np.ndarray
    latest: ProbeFigures


def group_raw(rows: list[tuple]) -> dict[Key, RawSeries]:
    """RAW_COLUMNS rows (oldest round first) -> arrays per key."""
    groups: dict[Key, list[tuple]] = defaultdict(list)
    for row in rows:
        groups[(row[0], row[1], row[2])].append(row)
    return {key: _raw_series(key[2], items) for key, items in groups.items()}


def _raw_series(probe: str, items: list[tuple]) -> RawSeries:
    cols = list(zip(*items))
    ts = np.array(cols[3], dtype=np.int64)
    rtt = np.array([np.nan if v is None else v for v in cols[5]], dtype=float)
    p95 = np.array([np.nan if v is None else v for v in cols[7]], dtype=float)
    loss = np.array(cols[10], dtype=float)
    last = items[-1]
    latest = ProbeFigures(probe, last[3], bool(last[4]), *last[5:10], last[10], last[11])
    return RawSeries(ts, rtt, p95, loss, latest)


def series_of(probe: str, step_s: int, ts: np.ndarray, rtt_ms: np.ndarray, p95_ms: np.ndarray,
              loss_ratio: np.ndarray) -> Series:
    return Series(probe, step_s, tuple(ts.tolist()), _floats(rtt_ms), _floats(p95_ms),
                  tuple(loss_ratio.tolist()))


def raw_to_series(probe: str, raw: RawSeries, step_s: int) -> Series:
    return series_of(probe, step_s, raw.ts, raw.rtt_ms, raw.p95_ms, raw.loss_ratio)


def group_hourly(rows: list[tuple], step_s: int) -> dict[Key, Series]:
    """queries.HOURLY_COLUMNS rows (oldest hour first within a key) -> Series per key."""
    groups: dict[Key, list[tuple]] = defaultdict(list)
    for row in rows:
        groups[row[:3]].append(row)
    out = {}
    for key, items in groups.items():
        _, _, _, hours, median, p95, loss = zip(*items)
        out[key] = Series(key[2], step_s, hours, median, p95, loss)
    return out


def _floats(values: np.ndarray) -> tuple[float | None, ...]:
    rounded = np.round(values, 3).tolist()
    return tuple(None if v != v else v for v in rounded)  # NaN != NaN
