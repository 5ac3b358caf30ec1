"""Raw results of one (target, region, probe) (RawSeries, built by build/read/window_rows.py) as the
model's Series. Pure: arrays in, records out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from build.compute.model import ProbeFigures, Series

Key = tuple[str, str, str]  # (target, region, probe)


@dataclass(frozen=True, slots=True)
class RawSeries:
    """The rounds of one (target, region, probe) in the window, oldest first."""

    ts: np.ndarray  # int64 unix s
    rtt_ms: np.ndarray  # NaN where nothing came back
    p95_ms: np.ndarray
    loss_ratio: np.ndarray
    latest: ProbeFigures


def series_of(probe: str, step_s: int, ts: np.ndarray, rtt_ms: np.ndarray, p95_ms: np.ndarray,
              loss_ratio: np.ndarray) -> Series:
    return Series(probe, step_s, ts, np.round(rtt_ms, 3), np.round(p95_ms, 3), loss_ratio)


def raw_to_series(probe: str, raw: RawSeries, step_s: int) -> Series:
    return series_of(probe, step_s, raw.ts, raw.rtt_ms, raw.p95_ms, raw.loss_ratio)


def optional_floats(values) -> list[float | None]:
    """values (an array or a sequence of floats and None) as Python floats, None for NaN (only
    the NaNs are visited: ~1M values a build)."""
    values = np.asarray(values, dtype=float)
    out = values.tolist()
    for i in np.flatnonzero(np.isnan(values)).tolist():
        out[i] = None
    return out
